/**
 * Contract 11, the rule a collector lives by: it moves its window on to the end it asked for, so
 * an event must never become visible later with a time at or before a window already read. Each
 * test sets up the writer that the naive design (an event stamped when its call or transaction
 * began) loses to a collector, on the engine TEST_STORE names: a second process or instance on
 * the same database, and a poll made while it is in the middle of its commit or its transaction.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import { auditEvent } from '../../src/domain/audit.ts';
import type { Store } from '../../src/domain/store.ts';
import type { Actor } from '../../src/domain/types.ts';
import { connectionUrl, openPostgresStore } from '../../src/store/postgres/index.ts';
import { numbered, writeAuditEvents, type SqlConnection } from '../../src/store/sql.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { TestServer } from '../support/server.ts';
import { useServer } from './setup.ts';

const ctx = useServer();

interface Page {
  totalElements: number;
  elements: Array<{ eventId: number; eventLogDate: string; targetObject1Id: string | null }>;
}

/** One collector: it polls (checkpoint, now], pages until a page is empty, and moves its checkpoint to the end it asked for. */
function collector(server: TestServer) {
  let checkpoint = new Date(Date.now() - 60_000).toISOString();
  const seen: Page['elements'] = [];
  return {
    seen,
    async poll(): Promise<void> {
      const end = new Date().toISOString();
      for (let pageNumber = 0; ; pageNumber++) {
        const query = `?startTimeAfter=${encodeURIComponent(checkpoint)}&endTimeOnOrBefore=${encodeURIComponent(end)}&pageNumber=${pageNumber}`;
        const reply = await server.request('GET', `/v1/adminlog/exportlogs${query}`, undefined, { role: 'ReadOnly' });
        assert.equal(reply.status, 200, reply.text);
        const page = reply.json as Page;
        if (page.elements.length === 0) break;
        seen.push(...page.elements);
      }
      checkpoint = end;
    },
  };
}

const writer: Actor = { kind: 'administrator', subject: 'other-instance', role: 'HelpDeskAdmin', clientAddress: '10.0.0.2', requestId: null };
const marked = (userId: string) =>
  auditEvent(writer, new Date().toISOString(), 'ds100.enable', { userId, deviceSerialNumber: '140100080' }, 'changed', 200);

/**
 * A connection of its own to the server's database, outside the server's store: what another
 * process (SQLite) or instance (PostgreSQL) holds while it commits.
 */
async function otherConnection(server: TestServer): Promise<{ sql: SqlConnection; exec(text: string): Promise<void>; close(): Promise<void> }> {
  const where = server.location;
  if ('file' in where) {
    const db = new Database(where.file);
    db.pragma('busy_timeout = 5000');
    return {
      sql: {
        rows: async (text, values) => db.prepare(text).raw().all(...values) as unknown[][],
        run: async (text, values) => db.prepare(text).run(...values).changes,
      },
      exec: async (text) => void db.exec(text),
      close: async () => void db.close(),
    };
  }
  const client = new pg.Client({ connectionString: connectionUrl(where.url, where.schema) });
  await client.connect();
  return {
    sql: {
      rows: async (text, values) => (await client.query({ text: numbered(text), values, rowMode: 'array' })).rows as unknown[][],
      run: async (text, values) => (await client.query({ text: numbered(text), values })).rowCount ?? 0,
    },
    exec: async (text) => void (await client.query(text)),
    close: () => client.end(),
  };
}

/** A second store on the server's database: another `serve` process beside it (SQLite) or another instance (PostgreSQL). */
async function otherStore(server: TestServer): Promise<Store> {
  const where = server.location;
  return 'file' in where ? openSqliteStore({ file: where.file }) : openPostgresStore({ url: where.url, schema: where.schema, poolSize: 2 });
}

/**
 * Sends `poll` and lets it run for a moment before `release`: a reader that does not wait for
 * the writer answers within that moment, without the writer's event. The order is all this
 * needs; no figure is asserted.
 */
async function pollWhileHeld(poll: () => Promise<void>, release: () => Promise<void>): Promise<void> {
  const polled = poll();
  await Promise.race([polled, sleep(300)]);
  await release();
  await polled;
}

const onceEach = (seen: Page['elements'], userId: string): number => seen.filter((e) => e.targetObject1Id === userId).length;

describe('an event never appears inside a window already read (contract 11)', () => {
  test('a writer in the middle of its commit: the poll waits for it and holds its event, or the event falls after the window', async () => {
    const other = await otherConnection(ctx.server);
    const c = collector(ctx.server);
    const userId = `mid-commit-${Date.now()}`;
    try {
      await c.poll();
      // What a commit does last, under the sequencer's row (or SQLite's write lock), held open.
      await other.exec('file' in ctx.server.location ? 'BEGIN IMMEDIATE' : 'BEGIN');
      await writeAuditEvents(other.sql, [marked(userId)], new Date().toISOString());
      await pollWhileHeld(() => c.poll(), () => other.exec('COMMIT'));
      await c.poll();
    } finally {
      await other.close();
    }
    assert.equal(onceEach(c.seen, userId), 1, `the collector saw the event once: ${JSON.stringify(c.seen.filter((e) => e.targetObject1Id === userId))}`);
  });

  test('a transaction open on another instance across a poll: its event is stamped at its commit, after the window read', async () => {
    const other = await otherStore(ctx.server);
    const c = collector(ctx.server);
    const userId = `held-${Date.now()}`;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let began!: () => void;
    const begun = new Promise<void>((resolve) => (began = resolve));
    try {
      await c.poll();
      // The naive design stamps this event now, before the poll below reads past it.
      const held = other.transaction(async (tx) => {
        await tx.appendAudit(marked(userId));
        began();
        await gate;
      });
      await begun;
      await pollWhileHeld(() => c.poll(), async () => {
        release();
        await held;
      });
      await c.poll();
    } finally {
      await other.close();
    }
    assert.equal(onceEach(c.seen, userId), 1, 'the collector saw the event once');
    const ids = c.seen.map((e) => e.eventId);
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
  });
});
