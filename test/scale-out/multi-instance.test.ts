/**
 * Two real server processes (`ds100-admin serve`) on different loopback ports, one PostgreSQL
 * schema, one Redis, one public URL: what a load balancer would have behind it. One credential is
 * hammered with interleaved enable and disable through both, with a per-key limit below the
 * request count. Afterwards:
 * - the stored state is the state named by the last `changed` audit event (in commit order);
 * - the number of `changed` events equals the number of real transitions (no lost update, no
 *   event that disagrees with the state);
 * - every request left exactly one audit event (changed, unchanged or rate_limited);
 * - the combined 200 count never exceeded the shared limit: the capacity plus what the bucket
 *   refilled while the test ran.
 * Bounded: a fixed number of requests, each with a timeout, and bounded start and stop.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SignJWT } from 'jose';
import { makeKeyService } from '../../src/auth/keys.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { connectionUrl, openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.ts';
import { seedDemo } from '../support/server.ts';
import { freshSchema, tempDir } from '../support/stores.ts';
import { REDIS_URL, redisPrefix, replayTransitions, seeder } from '../support/scale-out.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const PUBLIC_URL = 'http://ds100-admin.test';
const API = '/AdminInterface/restapi';
const TARGET = { deviceSerialNumber: '140100080', userId: 'ece30fe9-414c-7536-5403-0656220b3046' };
const REQUESTS = 360;
const IN_FLIGHT = 12;
const PER_KEY = 100; // per minute, and the burst: well below REQUESTS, so 429s happen
const REQUEST_BOUND_MS = 15_000;
const START_BOUND_MS = 30_000;
const STOP_BOUND_MS = 20_000;

interface Instance {
  child: ChildProcess;
  url: string;
  output: string[];
  exit: Promise<number | null>;
}

function startInstance(databaseUrl: string, keyPrefix: string, dataDir: string): Promise<Instance> {
  const child = spawn(
    process.execPath,
    [
      'bin/ds100-admin.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--data', dataDir,
      '--database-url', databaseUrl, '--redis-url', REDIS_URL, '--redis-key-prefix', keyPrefix,
      '--public-url', PUBLIC_URL, '--rate-per-key', String(PER_KEY), '--rate-per-address', '1000000',
      '--db-pool-size', '5', '--log-level', 'warn',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DATABASE_URL: '', REDIS_URL: '' } },
  );
  const output: string[] = [];
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not start within ${START_BOUND_MS} ms:\n${output.join('')}`));
    }, START_BOUND_MS);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      const m = /ds100-admin listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output.join(''));
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output, exit });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before listening:\n${output.join('')}`));
    });
  });
}

/** SIGTERM, then the exit code; SIGKILL and null if it does not stop in time. */
async function stopInstance(instance: Instance): Promise<number | null> {
  if (instance.child.exitCode !== null) return instance.child.exitCode;
  instance.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    instance.exit,
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_BOUND_MS))),
  ]);
  clearTimeout(timer);
  if (code === 'timeout') {
    instance.child.kill('SIGKILL');
    return null;
  }
  return code;
}

let fresh: Awaited<ReturnType<typeof freshSchema>>;
let prefix: ReturnType<typeof redisPrefix>;
let data: ReturnType<typeof tempDir>;
let store: PostgresStore;
let instances: Instance[] = [];
let token = '';
let subject = '';

before(async () => {
  fresh = await freshSchema('ds100_multi');
  prefix = redisPrefix();
  data = tempDir('ds100-multi-');
  // The directory and the key are made beforehand, as an operator would with the CLI.
  store = await openPostgresStore({ url: fresh.url, schema: fresh.schema, poolSize: 2 });
  await seedDemo(store);
  const { keyFile } = await makeKeyService({ store, clock: systemClock, publicUrl: PUBLIC_URL }).create(seeder, 'HelpDeskAdmin', 'multi-instance test');
  subject = keyFile.accessID;
  const now = Math.floor(Date.now() / 1000);
  token = await new SignJWT({ sub: subject, iat: now, exp: now + 900, aud: `${PUBLIC_URL}${API}` })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .sign(createPrivateKey(keyFile.accessKey));
  // Both instances find the schema through the URL's search_path, as the README shows.
  const databaseUrl = connectionUrl(fresh.url, fresh.schema);
  instances = await Promise.all([0, 1].map((i) => startInstance(databaseUrl, prefix.prefix, join(data.path, `instance-${i}`))));
});

after(async () => {
  for (const i of instances) await stopInstance(i);
  await store?.close();
  await fresh?.dispose();
  await prefix?.cleanup();
  data?.dispose();
});

interface Sent {
  index: number;
  instance: number;
  operation: 'ds100.enable' | 'ds100.disable';
  status: number;
  requestId: string | null;
  body: unknown;
}

test('two instances behind one URL: one credential hammered from both', async (t) => {
  const initial = (await store.credentialsOfUserDevice(TARGET.userId, TARGET.deviceSerialNumber)).map((c) => c.tokenStatus);
  assert.ok(initial.length > 0);

  // Both instances share their buckets through Redis before the first request (serve waits for it).
  for (const i of instances) {
    const metrics = await (await fetch(`${i.url}/metrics`, { signal: AbortSignal.timeout(REQUEST_BOUND_MS) })).text();
    assert.match(metrics, /^ds100_rate_limit_shared 1$/m, `instance ${i.url} uses the shared buckets`);
  }

  // A fixed, interleaved plan: request i goes to instance i % 2, enable or disable by a seeded draw.
  let seed = 20260601;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const plan = Array.from({ length: REQUESTS }, (_, index) => ({
    index,
    instance: index % 2,
    operation: random() < 0.5 ? ('ds100.enable' as const) : ('ds100.disable' as const),
  }));

  const sent: Sent[] = [];
  let next = 0;
  const startedAt = Date.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < plan.length) {
        const p = plan[next++]!;
        const verb = p.operation === 'ds100.enable' ? 'enable' : 'disable';
        const res = await fetch(`${instances[p.instance]!.url}${API}/v1/ds100/${verb}/otp`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(TARGET),
          signal: AbortSignal.timeout(REQUEST_BOUND_MS),
        });
        const text = await res.text();
        sent.push({ ...p, status: res.status, requestId: res.headers.get('x-request-id'), body: text ? JSON.parse(text) : undefined });
      }
    }),
  );
  const elapsedMs = Date.now() - startedAt;

  // Graceful stop: each instance finishes, writes its buffered audit events and closes its pool
  // and its Redis client, then exits 0.
  const codes = [];
  for (const i of instances) codes.push(await stopInstance(i));
  assert.deepEqual(codes, [0, 0], `both instances stop cleanly on SIGTERM:\n${instances.map((i) => i.output.join('')).join('\n---\n')}`);

  const ok = sent.filter((s) => s.status === 200);
  const limited = sent.filter((s) => s.status === 429);
  const other = sent.filter((s) => s.status !== 200 && s.status !== 429);
  // The schema is this test's own: every enable and disable event in it is one of these requests.
  // (A refused request has no target: its body was never read.)
  const trail = (await store.audit()).filter((e) => e.operation === 'ds100.enable' || e.operation === 'ds100.disable');
  const changed = trail.filter((e) => e.outcome === 'changed');
  const unchanged = trail.filter((e) => e.outcome === 'unchanged');
  const rateLimited = trail.filter((e) => e.outcome === 'rate_limited');
  const replay = replayTransitions(initial, changed);
  const final = await store.credentialsOfUserDevice(TARGET.userId, TARGET.deviceSerialNumber);
  // What the shared bucket can have allowed: its capacity plus its refill over the whole run.
  const allowance = PER_KEY + Math.floor((elapsedMs * PER_KEY) / 60_000);

  const numbers = {
    requestsSent: sent.length,
    ok200: ok.length,
    tooMany429: limited.length,
    other: other.length,
    byInstance200: [0, 1].map((i) => ok.filter((s) => s.instance === i).length),
    transitions: replay.transitions,
    auditEvents: trail.length,
    changedEvents: changed.length,
    unchangedEvents: unchanged.length,
    rateLimitedEvents: rateLimited.length,
    sharedLimitAllowance: allowance,
    elapsedMs,
    finalState: final.map((c) => c.tokenStatus).join(','),
  };
  console.log(`multi-instance numbers: ${JSON.stringify(numbers)}`);
  t.diagnostic(`multi-instance numbers: ${JSON.stringify(numbers)}`);

  assert.equal(sent.length, REQUESTS, 'every request was answered');
  assert.deepEqual(other.map((s) => [s.status, s.body]), [], 'only 200s and 429s');
  assert.ok(limited.length > 0, 'the shared limit was reached (429s happened)');
  assert.ok(ok.length <= allowance, `the combined 200s (${ok.length}) stay within the shared limit (${allowance})`);
  assert.ok(ok.length > 0);

  // The audit trail agrees with the answers, request by request.
  assert.equal(trail.length, REQUESTS, 'one audit event per request');
  assert.equal(changed.length + unchanged.length, ok.length);
  assert.equal(rateLimited.length, limited.length);
  const byRequestId = new Map(trail.map((e) => [e.requestId, e]));
  for (const s of sent) {
    const e = byRequestId.get(s.requestId);
    assert.ok(e, `request ${s.index} (${s.requestId}) has its event`);
    assert.equal(e.operation, s.operation);
    assert.equal(e.status, s.status);
    if (e.outcome === 'changed') {
      // A change answers with the time its own event records.
      assert.equal((s.body as Array<{ tokenStatusChangedAt: string }>)[0]?.tokenStatusChangedAt, e.at);
    }
  }

  // No lost update: each changed event is a real transition, and the last names the final state.
  assert.equal(replay.impossible, 0, 'no changed event repeats the state before it');
  assert.equal(changed.length, replay.transitions);
  assert.ok(changed.length > 0);
  assert.deepEqual(final.map((c) => c.tokenStatus), replay.state, 'the stored state is the one the last changed event names');
  const last = changed.at(-1)!;
  for (const c of final) {
    assert.equal(c.tokenStatusChangedAt, last.at);
    assert.equal(c.tokenStatusChangedBy, subject);
  }
  // The shared buckets lived in Redis under this test's prefix (not in per-instance memory).
  assert.ok((await prefix.keys()).some((k) => k === `${prefix.prefix}key:${subject}`), 'the per-key bucket is in Redis');
});
