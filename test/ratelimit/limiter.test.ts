/**
 * The token bucket arithmetic (`takeToken`) and the in-memory limiter built on it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manualClock } from '../../src/domain/clock.ts';
import { makeMemoryRateLimiter, takeToken, type RatePolicy } from '../../src/ratelimit/limiter.ts';

type State = { tokens: number; at: number } | undefined;

/** Takes `n` tokens at time `at`, returning the decisions and the final state. */
function takeMany(state: State, at: number, policy: RatePolicy, n: number) {
  const decisions = [];
  for (let i = 0; i < n; i++) {
    const r = takeToken(state, at, policy);
    state = r.state;
    decisions.push(r.decision);
  }
  return { state, decisions };
}

describe('takeToken', () => {
  const policy: RatePolicy = { capacity: 3, windowSeconds: 60 };

  test('a new bucket is full: capacity calls pass, the next is refused', () => {
    const { decisions } = takeMany(undefined, 0, policy, 5);
    assert.deepEqual(
      decisions.map((d) => [d.allowed, d.remaining]),
      [[true, 2], [true, 1], [true, 0], [false, 0], [false, 0]],
    );
    assert.ok(decisions.every((d) => d.limit === 3));
    assert.deepEqual(decisions.slice(0, 3).map((d) => d.retryAfterSeconds), [0, 0, 0]);
  });

  test('a refusal says when to come back and when the bucket is full, in whole seconds', () => {
    const { decisions } = takeMany(undefined, 0, policy, 4);
    const refused = decisions[3]!;
    assert.equal(refused.retryAfterSeconds, 20); // one token per 20 s
    assert.equal(refused.resetSeconds, 60);
    assert.equal(decisions[0]!.resetSeconds, 20, 'one token short of full: 20 s');
  });

  test('a refused take consumes nothing', () => {
    const first = takeMany(undefined, 0, policy, 3).state;
    const a = takeToken(first, 10_000, policy); // half a token back
    assert.equal(a.decision.allowed, false);
    const b = takeToken(a.state, 20_000, policy); // the refusal did not cost the half token
    assert.equal(b.decision.allowed, true);
  });

  test('tokens come back in proportion to the time passed, capped at the capacity', () => {
    const empty = takeMany(undefined, 0, policy, 3).state!;
    assert.equal(takeToken(empty, 19_999, policy).decision.allowed, false);
    assert.equal(takeToken(empty, 20_000, policy).decision.allowed, true);
    assert.equal(takeToken(empty, 40_000, policy).decision.remaining, 1);
    const afterLongIdle = takeMany(empty, 3_600_000, policy, 4).decisions;
    assert.deepEqual(afterLongIdle.map((d) => d.allowed), [true, true, true, false], 'never more than the capacity');
  });

  test('waiting exactly Retry-After seconds is always enough, and one second less is not (several policies)', () => {
    for (const capacity of [1, 2, 3, 5, 7, 10, 13, 50]) {
      for (const windowSeconds of [1, 7, 60, 3600]) {
        const p = { capacity, windowSeconds };
        const { state } = takeMany(undefined, 1_000, p, capacity);
        const refused = takeToken(state, 1_000, p);
        assert.equal(refused.decision.allowed, false, `${capacity}/${windowSeconds}s refused when empty`);
        const wait = refused.decision.retryAfterSeconds;
        assert.ok(Number.isInteger(wait) && wait >= 1, `${capacity}/${windowSeconds}s: Retry-After ${wait}`);
        assert.ok(Number.isInteger(refused.decision.resetSeconds));
        assert.equal(takeToken(refused.state, 1_000 + wait * 1000, p).decision.allowed, true, `${capacity}/${windowSeconds}s after ${wait} s`);
        if (wait > 1) {
          assert.equal(takeToken(refused.state, 1_000 + (wait - 1) * 1000, p).decision.allowed, false, `${capacity}/${windowSeconds}s after ${wait - 1} s`);
        }
      }
    }
  });

  test('a clock that steps back neither refills nor drains the bucket', () => {
    const two = takeMany(undefined, 100_000, policy, 1).state; // 2 tokens left
    const back = takeToken(two, 40_000, policy); // a minute earlier
    assert.equal(back.decision.allowed, true);
    assert.equal(back.decision.remaining, 1);
    const again = takeToken(back.state, 40_000, policy);
    assert.equal(again.decision.allowed, true);
    assert.equal(again.decision.remaining, 0);
  });
});

describe('makeMemoryRateLimiter', () => {
  test('buckets are independent and follow the clock', async () => {
    const clock = manualClock(0);
    const limiter = makeMemoryRateLimiter(clock);
    const p = { capacity: 2, windowSeconds: 10 };
    assert.deepEqual(
      [await limiter.take('a', p), await limiter.take('a', p), await limiter.take('a', p)].map((d) => d.allowed),
      [true, true, false],
    );
    assert.equal((await limiter.take('b', p)).allowed, true, 'b has its own bucket');
    clock.advance(5_000);
    assert.equal((await limiter.take('a', p)).allowed, true, 'a refilled one token in 5 s');
    assert.equal((await limiter.take('a', p)).allowed, false);
  });

  test('the number of buckets is bounded: the least recently used is forgotten first', async () => {
    const clock = manualClock(0);
    const limiter = makeMemoryRateLimiter(clock, 2);
    const p = { capacity: 1, windowSeconds: 3600 };
    assert.equal((await limiter.take('a', p)).allowed, true);
    assert.equal((await limiter.take('b', p)).allowed, true);
    assert.equal((await limiter.take('a', p)).allowed, false, 'a is remembered');
    assert.equal((await limiter.take('c', p)).allowed, true); // evicts b, the least recently used
    assert.equal((await limiter.take('a', p)).allowed, false, 'a, used more recently, is still remembered');
    assert.equal((await limiter.take('b', p)).allowed, true, 'b was forgotten, so its bucket is full again');
  });
});
