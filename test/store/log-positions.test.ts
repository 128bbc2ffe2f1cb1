/**
 * How a store finds an event log's window bounds (`auditLogPosition`), on the store TEST_STORE
 * names (`npm test` runs this file on SQLite and PostgreSQL). The store bisects each log's
 * numbers, so the answers are checked against a plain reading of every event: at, between,
 * before and after the stamps, with several events to a stamp, and with numbers missing where
 * pruning removed events (at the start, and in the middle where a call's time was older than its
 * neighbours' stamps).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auditEvent } from '../../src/domain/audit.ts';
import { manualClock } from '../../src/domain/clock.ts';
import type { AuditLog, LoggedAuditEvent, Store } from '../../src/domain/store.ts';
import type { Actor } from '../../src/domain/types.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';

const T0 = Date.parse('2026-04-01T08:00:00.000Z');
const iso = (ms: number): string => new Date(T0 + ms).toISOString();
const clock = manualClock(T0);
const agent: Actor = { kind: 'administrator', subject: 'agent-9', role: 'HelpDeskAdmin', clientAddress: '192.0.2.9', requestId: null };
let opened: TestStore;
let store: Store;

/** One commit at `ms` after T0 of `kinds`: a change (both logs), a lookup (the admin log), an export (no log). */
async function commitAt(ms: number, kinds: Array<'change' | 'lookup' | 'export'>, callAt = ms): Promise<void> {
  clock.set(T0 + ms);
  await store.transaction(async (tx) => {
    for (const [i, kind] of kinds.entries()) {
      const target = { userId: `u-${ms}-${i}`, deviceSerialNumber: '140100080' };
      const operation = kind === 'change' ? 'ds100.enable' : kind === 'lookup' ? 'ds100.lookup' : 'adminlog.export';
      await tx.appendAudit(auditEvent(agent, iso(callAt), operation, target, 'changed', 200));
    }
  });
  await store.flush();
}

async function everyEvent(log: AuditLog): Promise<LoggedAuditEvent[]> {
  return store.auditLogPage(log, 0, Number.MAX_SAFE_INTEGER);
}

/** The contract of `auditLogPosition`, read off every event of the log. */
function expected(events: LoggedAuditEvent[], time: string): number | null {
  if (events.length === 0) return null;
  const atOrBefore = events.filter((e) => e.loggedAt <= time);
  return atOrBefore.length > 0 ? atOrBefore.at(-1)!.position : events[0]!.position - 1;
}

/** Every stamp, a millisecond either side of it, and times before and after them all. */
async function checkEveryTime(log: AuditLog): Promise<number> {
  const events = await everyEvent(log);
  const stamps = [...new Set(events.map((e) => Date.parse(e.loggedAt) - T0))];
  const times = [-60_000, ...stamps.flatMap((ms) => [ms - 1, ms, ms + 1]), 3_600_000].map(iso);
  for (const time of times) assert.equal(await store.auditLogPosition(log, time), expected(events, time), `${log} log at ${time}`);
  return times.length;
}

before(async () => {
  opened = await openTestStore(undefined, { clock });
  store = opened.store;
});
after(() => opened.dispose());

describe('event log positions (contract 11)', () => {
  test('an empty log has no position', async () => {
    assert.equal(await store.auditLogPosition('admin', iso(0)), null);
    assert.equal(await store.auditLogPosition('user', iso(0)), null);
  });

  test('the last number stamped at or before any time, with several events to a stamp', async () => {
    const kinds: Array<'change' | 'lookup' | 'export'> = ['change', 'lookup', 'export'];
    for (let n = 0; n < 40; n++) await commitAt(1000 * n, Array.from({ length: 1 + (n % 4) }, (_, i) => kinds[(n + i) % 3]!));
    assert.ok((await everyEvent('admin')).length > 50);
    assert.ok((await everyEvent('user')).length > 20);
    assert.ok((await checkEveryTime('admin')) > 100);
    await checkEveryTime('user');
  });

  test('numbers missing at the start and in the middle do not mislead the search', async () => {
    // Calls whose time is long before their stamp: pruning by the call's time takes them out of
    // the middle of the logs, and with them everything stamped before the first 10 seconds.
    for (let n = 0; n < 5; n++) await commitAt(100_000 + 1000 * n, ['change', 'lookup'], -30_000);
    await commitAt(200_000, ['change', 'change', 'lookup']);
    const before = await everyEvent('admin');
    const deleted = await store.transaction((tx) => tx.deleteAuditBefore(iso(10_000), 1000));
    assert.ok(deleted >= 10 + 10, `pruned ${deleted}`);
    const admin = await everyEvent('admin');
    assert.ok(admin[0]!.position > before[0]!.position, 'numbers are missing at the start');
    assert.ok(admin.some((e, i) => i > 0 && e.position > admin[i - 1]!.position + 1 && Date.parse(e.loggedAt) - T0 > 100_000), 'and in the middle');
    await checkEveryTime('admin');
    await checkEveryTime('user');
  });
});
