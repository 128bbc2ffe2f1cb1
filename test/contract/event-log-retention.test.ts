/**
 * Contract 11, retention: 90 days for the admin log, 40 for the user event log; older events are
 * neither returned nor kept, and a start before the retention window is not an error. A fixed
 * clock, moved by hand, stamps every event, on the engine TEST_STORE names.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { auditEvent } from '../../src/domain/audit.ts';
import { manualClock } from '../../src/domain/clock.ts';
import { pruneAuditTrail } from '../../src/domain/retention.ts';
import type { Store } from '../../src/domain/store.ts';
import type { Actor } from '../../src/domain/types.ts';
import { useServer } from './setup.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T12:00:00.000Z');
// Stamps never go back (contract 11): the clock only moves forward, from the server's start on.
const clock = manualClock(NOW - 200 * DAY);
const ctx = useServer({ clock });

const actor: Actor = { kind: 'administrator', subject: 'retention-test', role: 'HelpDeskAdmin', clientAddress: '10.0.0.3', requestId: null };

/** One enable of `userId`'s DS100, committed (and so stamped) `daysAgo` days before NOW. */
async function enableAt(store: Store, daysAgo: number, userId: string): Promise<void> {
  clock.set(NOW - daysAgo * DAY);
  await store.transaction((tx) => tx.appendAudit(auditEvent(actor, clock.nowIso(), 'ds100.enable', { userId, deviceSerialNumber: '1' }, 'changed', 200)));
}

async function exported(path: string, key: 'elements' | 'userEventLogExportEntries'): Promise<string[]> {
  const token = await ctx.server.sign({ key: ctx.server.keys.ReadOnly });
  const reply = await ctx.server.request('GET', `${path}?startTimeAfter=2020-01-01T00:00:00Z&pageSize=100`, undefined, { token });
  assert.equal(reply.status, 200, reply.text);
  const body = reply.json as Record<string, Array<{ targetObject1Id?: string; userId?: string }>>;
  return body[key]!.map((e) => e.targetObject1Id ?? e.userId!).filter((id) => id.startsWith('age-'));
}

describe('retention (contract 11)', () => {
  before(async () => {
    await enableAt(ctx.server.store, 100, 'age-100');
    for (let i = 0; i < 5; i++) await enableAt(ctx.server.store, 96 - i, `old-${i}`);
    for (const days of [89, 50, 39, 1]) await enableAt(ctx.server.store, days, `age-${days}`);
    clock.set(NOW);
  });

  test('the admin log returns 90 days, the user event log 40; a start years back is not an error', async () => {
    assert.deepEqual(await exported('/v1/adminlog/exportlogs', 'elements'), ['age-89', 'age-50', 'age-39', 'age-1']);
    assert.deepEqual(await exported('/v1/usereventlog/exportlogs', 'userEventLogExportEntries'), ['age-39', 'age-1']);
  });

  test('pruning deletes what is older than 90 days, in batches, and nothing else', async () => {
    await ctx.server.store.flush();
    const before = await ctx.server.store.audit();
    const expired = before.filter((e) => e.at < new Date(NOW - 90 * DAY).toISOString());
    assert.ok(expired.length >= 6, 'the keys made at the start, the 100-day event and the five old ones');
    const transactions: number[] = [];
    const counting: Store = {
      ...ctx.server.store,
      transaction: (work) => ctx.server.store.transaction(async (tx) => {
        transactions.push(1);
        return work(tx);
      }),
    };
    const deleted = await pruneAuditTrail({ store: counting, clock, batchSize: 2, pauseMs: 1 });
    assert.equal(deleted, expired.length);
    assert.equal(transactions.length, Math.floor(expired.length / 2) + 1, 'two events a transaction, and one that finds fewer');
    const after = await ctx.server.store.audit();
    assert.deepEqual(after.map((e) => e.seq), before.filter((e) => !expired.includes(e)).map((e) => e.seq));
    assert.deepEqual(await exported('/v1/adminlog/exportlogs', 'elements'), ['age-89', 'age-50', 'age-39', 'age-1'], 'the log reads the same');
    assert.equal(await pruneAuditTrail({ store: ctx.server.store, clock }), 0, 'nothing left to prune');
  });
});
