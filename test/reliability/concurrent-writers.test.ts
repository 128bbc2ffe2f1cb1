/**
 * Concurrent writers (issue 6, suite 3): many connections toggle the same few DS100s at once
 * through the real server (on PostgreSQL through two server processes on one schema), a bounded
 * number of requests. Afterwards, for each DS100:
 * - no answer but 200 (no 500, nothing refused): every request is a plain enable or disable;
 * - one audit event per request, found by its X-Request-Id, with the operation and target sent;
 * - replaying the events in commit order from the seeded state, each says `changed` exactly when
 *   it is a real transition, so there are as many `changed` events as transitions;
 * - every 200's body is the state its event left (status, when, by whom);
 * - the stored state is the one the last `changed` event names;
 * - commit order respects real time: a request answered before another was sent committed first.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { StoredAuditEvent } from '../../src/domain/types.ts';
import {
  ENGINE, SEED, STRESS, all, call, deploy, expectedItems, lookupPairs, makeDirectory, pairEvents, prng, replayPair, statusItems, toggle,
  type Deployment,
} from '../support/reliability.ts';
import type { StatusItem } from '../../src/domain/credentials.ts';

const CONNECTIONS = 32;
const PER_CONNECTION = STRESS ? 150 : 12;
const PAIRS = 4;

let deployment: Deployment | undefined;
after(async () => {
  await deployment?.dispose();
});

interface Sent {
  pair: number;
  operation: string;
  status: number;
  requestId: string | null;
  json: unknown;
  text: string;
  sentAt: number;
  answeredAt: number;
}

test(`${CONNECTIONS} connections toggling ${PAIRS} DS100s at once (${ENGINE})`, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const directory = makeDirectory(PAIRS);
  deployment = await deploy(ENGINE, directory);
  // SQLite is one process's file; PostgreSQL is shared by two instances, as behind a load balancer.
  const first = await deployment.start();
  const servers = ENGINE === 'postgres' ? [first, await deployment.start()] : [first];
  const token = await deployment.token();
  const subject = deployment.subject!;

  const log: Sent[] = [];
  const failures: string[] = [];
  await all(CONNECTIONS, async (w) => {
    const random = prng(SEED + w);
    const url = servers[w % servers.length]!.url;
    for (let n = 0; n < PER_CONNECTION; n++) {
      const pair = Math.floor(random() * PAIRS);
      const op = toggle(directory.pairs[pair]!, random() < 0.5 ? 'Enabled' : 'Disabled');
      const sentAt = performance.now();
      const r = await call(url, token, op.method, op.path, op.body);
      const answeredAt = performance.now();
      if ('error' in r) failures.push(`connection ${w}, request ${n}: ${r.error}`);
      else log.push({ pair, operation: op.operation, status: r.status, requestId: r.requestId, json: r.json, text: r.text, sentAt, answeredAt });
    }
  });
  assert.deepEqual(failures, [], 'every request answered');
  const notOk = log.filter((s) => s.status !== 200);
  assert.deepEqual(notOk.map((s) => `${s.status} ${s.text}`), [], 'only 200s: no 500, nothing refused');

  const trail = await deployment.trail();
  const byRequest = new Map<string, Sent>();
  for (const s of log) {
    assert.ok(s.requestId, 'every answer carries X-Request-Id');
    assert.ok(!byRequest.has(s.requestId), `request id ${s.requestId} is unique`);
    byRequest.set(s.requestId, s);
  }
  const mine = trail.filter((e) => e.subject === subject && (e.operation === 'ds100.enable' || e.operation === 'ds100.disable'));
  const eventOf = new Map<string, StoredAuditEvent>();
  for (const e of mine) {
    assert.ok(e.requestId && byRequest.has(e.requestId), `event seq ${e.seq} belongs to a request that was answered: ${JSON.stringify(e)}`);
    assert.ok(!eventOf.has(e.requestId), `one event for request ${e.requestId}`);
    eventOf.set(e.requestId, e);
  }
  assert.equal(mine.length, log.length, 'one audit event per request');

  const stored = await lookupPairs(servers[0]!.url, token, directory.pairs);
  let changed = 0;
  let unchanged = 0;
  for (const [i, pair] of directory.pairs.entries()) {
    const sent = log.filter((s) => s.pair === i);
    for (const s of sent) {
      const e = eventOf.get(s.requestId!)!;
      assert.equal(e.operation, s.operation, `request ${s.requestId}: the event names the operation sent`);
      assert.deepEqual(e.target, { userId: pair.userId, deviceSerialNumber: pair.device }, `request ${s.requestId}: the event names the DS100 sent`);
      assert.equal(e.status, 200);
    }
    const events = pairEvents(trail, pair, subject);
    assert.equal(events.length, sent.length);
    const { state, transitions } = replayPair(pair, events, (e, after) => {
      // The 200's body is the state its own event left.
      assert.deepEqual(byRequest.get(e.requestId!)!.json as StatusItem[], expectedItems(pair, after), `body of request ${e.requestId} (seq ${e.seq})`);
    });
    const changedEvents = events.filter((e) => e.outcome === 'changed');
    assert.equal(changedEvents.length, transitions, `${pair.key}: one changed event per real transition`);
    if (changedEvents.length > 0) assert.equal(state.status, changedEvents.at(-1)!.operation === 'ds100.enable' ? 'Enabled' : 'Disabled');
    assert.deepEqual(statusItems(stored.get(pair.key)!), expectedItems(pair, state), `${pair.key}: the stored state is the last changed event's`);

    // Real time: whatever was answered before a request was sent committed before it.
    const seq = (s: Sent) => eventOf.get(s.requestId!)!.seq;
    const byAnswer = [...sent].sort((a, b) => a.answeredAt - b.answeredAt);
    let k = 0;
    let highest = -Infinity;
    for (const s of [...sent].sort((a, b) => a.sentAt - b.sentAt)) {
      while (k < byAnswer.length && byAnswer[k]!.answeredAt < s.sentAt) highest = Math.max(highest, seq(byAnswer[k++]!));
      assert.ok(seq(s) > highest, `${pair.key}: request ${s.requestId} committed (seq ${seq(s)}) after one answered before it was sent (seq ${highest})`);
    }
    changed += changedEvents.length;
    unchanged += events.length - changedEvents.length;
  }
  assert.ok(changed > 0 && unchanged > 0, 'the run made both real transitions and no-op toggles');
  t.diagnostic(`${log.length} requests through ${servers.length} server(s): ${changed} changed, ${unchanged} unchanged, 0 lost`);
});
