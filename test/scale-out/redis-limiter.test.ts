/**
 * The shared rate limiter on the real Redis: two limiter instances (as two servers would have)
 * share one bucket; its answers are `takeToken`'s; keys expire; when Redis is unreachable the
 * limiter keeps answering from local buckets and says so once, and it returns to the shared
 * buckets when Redis is back (through a proxy the test cuts and restores).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { takeToken, type RatePolicy } from '../../src/ratelimit/limiter.ts';
import { makeRedisRateLimiter, type LimiterLog, type SharedRateLimiter } from '../../src/ratelimit/redis.ts';
import { CLOSED_PORT_REDIS_URL, REDIS_URL, eventually, redisPrefix, startTcpProxy } from '../support/scale-out.ts';

/** Log lines a limiter wrote, by level. */
function recordingLog(): LimiterLog & { warns: string[]; infos: string[] } {
  const warns: string[] = [];
  const infos: string[] = [];
  return { warns, infos, warn: (_o, msg) => void warns.push(msg), info: (_o, msg) => void infos.push(msg) };
}

const limiters: SharedRateLimiter[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const l of limiters.splice(0)) await l.close();
  for (const c of cleanups.splice(0)) await c();
});

function limiter(url: string, keyPrefix: string, log?: LimiterLog): SharedRateLimiter {
  const l = makeRedisRateLimiter({ url, keyPrefix, ...(log ? { log } : {}) });
  limiters.push(l);
  return l;
}

/** Waits until the limiter is connected and sharing; fails the test if it never is. */
async function connected(l: SharedRateLimiter): Promise<void> {
  const probe: RatePolicy = { capacity: 1_000_000, windowSeconds: 60 };
  assert.ok(await eventually(async () => (await l.take('warm-up', probe), l.shared), 40, 100), 'the limiter connects to Redis');
}

// A window so long that refill is negligible during a test: 1 token per 360 s.
const SLOW: RatePolicy = { capacity: 10, windowSeconds: 3600 };

describe('shared buckets over Redis', () => {
  test('two limiter instances share one bucket: together they allow the capacity, no more', async () => {
    const p = redisPrefix();
    cleanups.push(p.cleanup);
    const a = limiter(REDIS_URL, p.prefix);
    const b = limiter(REDIS_URL, p.prefix);
    assert.equal(await a.connected(30_000), true);
    assert.equal(await b.connected(30_000), true);
    const decisions = [];
    for (let i = 0; i < 16; i++) decisions.push(await (i % 2 ? a : b).take('key:shared', SLOW));
    assert.equal(decisions.filter((d) => d.allowed).length, SLOW.capacity);
    assert.deepEqual(
      decisions.map((d) => d.allowed),
      Array.from({ length: 16 }, (_, i) => i < SLOW.capacity),
    );
  });

  test('concurrent takes from two instances never allow more than the capacity (atomic script)', async () => {
    const p = redisPrefix();
    cleanups.push(p.cleanup);
    const a = limiter(REDIS_URL, p.prefix);
    const b = limiter(REDIS_URL, p.prefix);
    await connected(a);
    await connected(b);
    const policy: RatePolicy = { capacity: 50, windowSeconds: 3600 };
    const decisions = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).take('key:race', policy)));
    assert.equal(decisions.filter((d) => d.allowed).length, policy.capacity);
  });

  test('the answers are takeToken’s: limit, remaining, retry-after', async () => {
    const p = redisPrefix();
    cleanups.push(p.cleanup);
    const a = limiter(REDIS_URL, p.prefix);
    await connected(a);
    let state: { tokens: number; at: number } | undefined;
    for (let i = 0; i < 13; i++) {
      const shared = await a.take('key:math', SLOW);
      const local = takeToken(state, Date.now(), SLOW);
      state = local.state;
      assert.equal(shared.allowed, local.decision.allowed, `take ${i}: allowed`);
      assert.equal(shared.limit, local.decision.limit);
      assert.equal(shared.remaining, local.decision.remaining, `take ${i}: remaining`);
      // Refill during the test is a few thousandths of a token: the whole seconds agree.
      assert.ok(Math.abs(shared.retryAfterSeconds - local.decision.retryAfterSeconds) <= 1, `take ${i}: retry-after`);
      assert.ok(Math.abs(shared.resetSeconds - local.decision.resetSeconds) <= 1, `take ${i}: reset`);
    }
  });

  test('bucket keys carry the prefix and expire once the bucket would be full again', async () => {
    const p = redisPrefix();
    cleanups.push(p.cleanup);
    const a = limiter(REDIS_URL, p.prefix);
    await connected(a);
    await a.take('addr:127.0.0.9', { capacity: 4, windowSeconds: 2 });
    assert.deepEqual((await p.keys()).sort(), [`${p.prefix}addr:127.0.0.9`, `${p.prefix}warm-up`]);
    const r = new Redis(REDIS_URL);
    try {
      const ttl = await r.pttl(`${p.prefix}addr:127.0.0.9`);
      // One token of four missing, refilled in 0.5 s, plus the 1 s margin.
      assert.ok(ttl > 0 && ttl <= 1500, `TTL ${ttl} ms`);
    } finally {
      r.disconnect();
    }
  });
});

describe('when Redis is unreachable', () => {
  test('a limiter pointed at a closed port answers from local buckets and logs once', async () => {
    const log = recordingLog();
    const l = limiter(CLOSED_PORT_REDIS_URL, 'unused:', log);
    // What `serve` waits for before listening: false at once, not after the whole wait.
    assert.equal(await l.connected(30_000), false);
    assert.ok(await eventually(async () => log.warns.length > 0, 40, 50), 'the fault is logged');
    const decisions = [];
    for (let i = 0; i < 15; i++) decisions.push(await l.take('key:local', SLOW));
    assert.equal(l.shared, false);
    assert.equal(decisions.filter((d) => d.allowed).length, SLOW.capacity, 'the local bucket enforces the same policy');
    // The client keeps retrying in the background; the fault is still reported once.
    await new Promise((r) => setTimeout(r, 600));
    for (let i = 0; i < 5; i++) await l.take('key:local', SLOW);
    assert.equal(log.warns.length, 1, `logged once, not per request or per retry: ${JSON.stringify(log.warns)}`);
  });

  test('through an outage and back: local buckets meanwhile, shared ones again after', async () => {
    const p = redisPrefix();
    cleanups.push(p.cleanup);
    const target = new URL(REDIS_URL);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    cleanups.push(() => proxy.close());
    const log = recordingLog();
    const viaProxy = limiter(`redis://127.0.0.1:${proxy.port}`, p.prefix, log);
    const direct = limiter(REDIS_URL, p.prefix);
    await connected(viaProxy);
    await connected(direct);

    // Shared: the instance behind the proxy spends 4 of the 10 shared tokens.
    for (let i = 0; i < 4; i++) assert.equal((await viaProxy.take('key:outage', SLOW)).allowed, true);

    proxy.setMode('reset');
    // Every request is still answered (from the local bucket), none waits on Redis.
    const during = [];
    for (let i = 0; i < 30; i++) during.push(await viaProxy.take('key:outage', SLOW));
    assert.equal(viaProxy.shared, false);
    assert.equal(during.filter((d) => d.allowed).length, SLOW.capacity, 'the local bucket starts full and holds the policy');
    assert.equal(log.warns.length, 1, `the outage is logged once: ${JSON.stringify(log.warns)}`);
    // Meanwhile the shared bucket was untouched by the cut-off instance.
    assert.equal((await direct.take('key:outage', SLOW)).remaining, SLOW.capacity - 4 - 1);

    proxy.setMode('forward');
    assert.ok(await eventually(async () => (await viaProxy.take('key:other', SLOW), viaProxy.shared), 60, 100), 'shared again once Redis is back');
    assert.equal(log.infos.length, 1, 'the return is logged once');
    assert.equal(log.warns.length, 1);
    // Back on the shared bucket: 5 spent so far, so 5 more are allowed and then no more.
    const back = [];
    for (let i = 0; i < 7; i++) back.push((await viaProxy.take('key:outage', SLOW)).allowed);
    assert.deepEqual(back, [true, true, true, true, true, false, false]);
  });

  test('a Redis that accepts but never answers costs at most the timeout, then local buckets', async () => {
    const target = new URL(REDIS_URL);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    cleanups.push(() => proxy.close());
    const p = redisPrefix();
    cleanups.push(p.cleanup);
    const log = recordingLog();
    const l = makeRedisRateLimiter({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: p.prefix, timeoutMs: 200, log });
    limiters.push(l);
    await connected(l);
    proxy.setMode('blackhole');
    const decisions = [];
    for (let i = 0; i < 20; i++) decisions.push(await l.take('key:hang', SLOW));
    assert.equal(decisions.filter((d) => d.allowed).length, SLOW.capacity);
    assert.equal(l.shared, false);
    assert.equal(log.warns.length, 1);
  });
});
