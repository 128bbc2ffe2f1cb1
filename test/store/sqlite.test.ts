/**
 * The SQLite store on a real file in a temporary folder: versioned migrations applied once, group
 * commit (many concurrent transactions, one failing job rolled back alone), audit events recorded
 * without a transaction and flushed, reads that see committed data only, files readable by their
 * owner only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteMigrations } from '../../src/store/sqlite/migrations.ts';
import { SQL } from '../../src/store/sql.ts';
import type { Store } from '../../src/domain/store.ts';
import { auditEvent, user } from '../support/records.ts';
import { tempDir } from '../support/stores.ts';

const dirs: Array<{ dispose(): void }> = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) d.dispose();
});

function newFile(name = 'store.db'): string {
  const dir = tempDir('ds100-sqlite-');
  dirs.push(dir);
  return join(dir.path, name);
}

async function open(file: string, maxBatch?: number, busyTimeoutMs?: number): Promise<Store> {
  const store = await openSqliteStore({ file, ...(maxBatch ? { maxBatch } : {}), ...(busyTimeoutMs ? { busyTimeoutMs } : {}) });
  stores.push(store);
  return store;
}

async function close(store: Store): Promise<void> {
  await store.close();
  stores.splice(stores.indexOf(store), 1);
}

function rawQuery(file: string, sql: string): unknown[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

describe('migrations', () => {
  test('are applied once: reopening the same file keeps the data and records each version once', async () => {
    const file = newFile();
    let store = await open(file);
    await store.transaction((tx) => tx.insertUser(user('u-1')));
    await close(store);
    const first = rawQuery(file, 'SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
    assert.deepEqual(
      first.map((r) => (r as { version: number }).version),
      sqliteMigrations.map((m) => m.version),
    );

    for (let i = 0; i < 2; i++) {
      store = await open(file);
      assert.equal((await store.userById('u-1'))?.emailAddress, 'u-1@example.com', `reopen ${i + 1}: data kept`);
      await close(store);
    }
    assert.deepEqual(rawQuery(file, 'SELECT version, name, applied_at FROM schema_migrations ORDER BY version'), first, 'not applied again');
  });

  test('two processes opening one fresh file at the same moment both succeed, and it is migrated once', async () => {
    const file = newFile();
    // Hold the write lock on a fresh database, so that both children read "nothing applied yet"
    // and then queue for the lock; only then let them go.
    const lock = new Database(file);
    lock.pragma('journal_mode = WAL');
    lock.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    lock.exec('BEGIN IMMEDIATE');
    const script = `
      import { openSqliteStore } from ${JSON.stringify(new URL('../../src/store/sqlite/index.ts', import.meta.url).href)};
      console.log('opening');
      const store = await openSqliteStore({ file: ${JSON.stringify(file)} });
      await store.close();
      console.log('opened');`;
    const children = [0, 1].map(() => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const lines: string[] = [];
      const opening = new Promise<void>((resolve) => {
        createInterface({ input: child.stdout }).on('line', (l) => {
          lines.push(l);
          if (l === 'opening') resolve();
        });
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      return { opening: Promise.race([opening, exited]), exited, lines, stderr: () => stderr };
    });
    try {
      await Promise.all(children.map((c) => c.opening));
      await sleep(300); // time to reach the lock (a wait, not an assertion: a late child only makes the test easier)
    } finally {
      lock.exec('COMMIT');
      lock.close();
    }
    const codes = await Promise.all(children.map((c) => c.exited));
    for (const [i, c] of children.entries()) {
      assert.equal(codes[i], 0, `child ${i}: ${c.stderr()}`);
      assert.deepEqual(c.lines, ['opening', 'opened']);
    }
    assert.deepEqual(
      rawQuery(file, 'SELECT version FROM schema_migrations ORDER BY version').map((r) => (r as { version: number }).version),
      sqliteMigrations.map((m) => m.version),
    );
  });

  test('versions are unique and increasing, and the database is in WAL mode', async () => {
    const versions = sqliteMigrations.map((m) => m.version);
    assert.deepEqual(versions, [...new Set(versions)].sort((a, b) => a - b));
    const file = newFile();
    await close(await open(file));
    assert.deepEqual(rawQuery(file, 'PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
  });

  test('every lookup path has an index', async () => {
    const file = newFile();
    await close(await open(file));
    const plan = (sql: string) => JSON.stringify(rawQuery(file, `EXPLAIN QUERY PLAN ${sql}`));
    for (const sql of [
      "SELECT * FROM credentials WHERE device_serial = '1'",
      "SELECT * FROM credentials WHERE token_serial = '1'",
      "SELECT * FROM credentials WHERE user_id = '1' AND device_serial = '1'",
      "SELECT * FROM users WHERE email_lower = 'a'",
      "SELECT * FROM users WHERE id = 'a'",
    ]) {
      assert.doesNotMatch(plan(sql), /SCAN/, sql);
    }
  });

  test("a change's and a lookup's credential reads take their order from an index: no scan, no sort of their own", async () => {
    const file = newFile();
    await close(await open(file));
    for (const sql of [SQL.credentialsOfUserDevice, SQL.credentialsByDevice]) {
      const plan = JSON.stringify(rawQuery(file, `EXPLAIN QUERY PLAN ${sql.replaceAll('?', "'1'")}`));
      assert.doesNotMatch(plan, /SCAN|TEMP B-TREE/, sql);
    }
  });
});

describe('group commit', () => {
  test('many concurrent transactions all commit, each with its audit event', async () => {
    const store = await open(newFile());
    const n = 200;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        store.transaction(async (tx) => {
          await tx.insertUser(user(`u-${i}`));
          await tx.appendAudit(auditEvent('user.add', { target: { userId: `u-${i}` }, outcome: 'changed' }));
          return i;
        }),
      ),
    );
    assert.deepEqual(results, Array.from({ length: n }, (_, i) => i), 'each job gets its own value back');
    for (let i = 0; i < n; i++) assert.ok(await store.userById(`u-${i}`), `u-${i} committed`);
    const events = await store.audit();
    assert.equal(events.length, n);
    assert.deepEqual(new Set(events.map((e) => e.target.userId)).size, n);
  });

  test('a job that throws rolls back only its own writes; the others of the same batch commit', async () => {
    const file = newFile();
    const store = await open(file);
    const boom = new Error('boom');
    const seen: Record<string, unknown> = {};
    const a = store.transaction(async (tx) => {
      await tx.insertUser(user('a'));
      await tx.appendAudit(auditEvent('a'));
    });
    const b = store.transaction(async (tx) => {
      await tx.insertUser(user('b'));
      await tx.appendAudit(auditEvent('b'));
      // Same batch as a: a's write is visible inside the transaction, not yet outside it.
      seen.insideA = (await tx.userById('a')) !== null;
      seen.outsideA = (await store.userById('a')) !== null;
      throw boom;
    });
    const c = store.transaction(async (tx) => {
      await tx.insertUser(user('c'));
      await tx.appendAudit(auditEvent('c'));
      seen.insideB = (await tx.userById('b')) !== null;
    });
    const settled = await Promise.allSettled([a, b, c]);
    assert.deepEqual(seen, { insideA: true, outsideA: false, insideB: false }, 'a and b shared one transaction; b was rolled back before c ran');
    assert.equal(settled[0].status, 'fulfilled');
    assert.equal(settled[1].status, 'rejected');
    assert.equal((settled[1] as PromiseRejectedResult).reason, boom, 'the job gets its own error back');
    assert.equal(settled[2].status, 'fulfilled');
    assert.ok(await store.userById('a'));
    assert.equal(await store.userById('b'), null, "b's user is gone");
    assert.ok(await store.userById('c'));
    assert.deepEqual((await store.audit()).map((e) => e.operation), ['a', 'c'], "b's audit event is gone with it");
    assert.deepEqual(rawQuery(file, 'SELECT id FROM users ORDER BY id'), [{ id: 'a' }, { id: 'c' }], 'as another connection sees it');
  });

  test('a job that breaks a constraint part-way rolls back its earlier writes too', async () => {
    const store = await open(newFile());
    await store.transaction((tx) => tx.insertUser(user('taken')));
    const results = await Promise.allSettled([
      store.transaction(async (tx) => {
        await tx.insertUser(user('first-of-failing-job'));
        await tx.insertUser(user('taken')); // primary key violation
      }),
      store.transaction((tx) => tx.insertUser(user('neighbour'))),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled']);
    assert.equal(await store.userById('first-of-failing-job'), null);
    assert.ok(await store.userById('neighbour'));
  });

  test('a batch larger than maxBatch is split, and every job still commits', async () => {
    const store = await open(newFile(), 4);
    await Promise.all(Array.from({ length: 30 }, (_, i) => store.transaction((tx) => tx.insertUser(user(`m-${i}`)))));
    for (let i = 0; i < 30; i++) assert.ok(await store.userById(`m-${i}`));
  });

  test('a transaction answers only once committed: another connection sees its write', async () => {
    const file = newFile();
    const store = await open(file);
    await store.transaction((tx) => tx.insertUser(user('durable')));
    assert.deepEqual(rawQuery(file, "SELECT id FROM users WHERE id = 'durable'"), [{ id: 'durable' }]);
  });
});

describe('a write lock held by another connection', () => {
  test('a transaction waits for it without holding the event loop, and commits once it is released', async () => {
    const file = newFile();
    const store = await open(file);
    await store.transaction((tx) => tx.insertUser(user('before')));
    const holder = new Database(file);
    holder.exec('BEGIN IMMEDIATE');
    let settled = false;
    const waiting = store.transaction((tx) => tx.insertUser(user('waited')));
    waiting.then(
      () => (settled = true),
      () => (settled = true),
    );
    try {
      store.recordAudit(auditEvent('read-meanwhile'));
      // Time for the store to try the lock, several times (a wait, not an assertion). Were the
      // wait inside SQLite, this timer would fire only once the transaction had failed.
      await sleep(200);
      assert.equal(settled, false, 'the transaction still waits for the lock');
      assert.ok(await store.userById('before'), 'reads are answered meanwhile');
    } finally {
      holder.exec('COMMIT');
      holder.close();
    }
    await waiting;
    assert.deepEqual(rawQuery(file, 'SELECT id FROM users ORDER BY id'), [{ id: 'before' }, { id: 'waited' }]);
    await store.flush();
    assert.deepEqual((await store.audit()).map((e) => e.operation), ['read-meanwhile']);
  });

  test('a transaction that cannot have it within busyTimeoutMs fails with SQLITE_BUSY; the store works once it is free', async () => {
    const file = newFile();
    const store = await open(file, undefined, 150);
    const holder = new Database(file);
    holder.exec('BEGIN IMMEDIATE');
    try {
      store.recordAudit(auditEvent('kept-for-later'));
      await assert.rejects(store.transaction((tx) => tx.insertUser(user('refused'))), { code: 'SQLITE_BUSY' });
      await store.flush(); // gives up on the audit event, keeping it
    } finally {
      holder.exec('COMMIT');
      holder.close();
    }
    await store.transaction((tx) => tx.insertUser(user('later')));
    assert.equal(await store.userById('refused'), null);
    assert.ok(await store.userById('later'));
    assert.deepEqual((await store.audit()).map((e) => e.operation), ['kept-for-later'], 'committed with the next transaction');
  });
});

describe('reads', () => {
  test('see committed data only, while the transaction sees its own writes', async () => {
    const store = await open(newFile());
    await store.transaction((tx) => tx.insertUser(user('old')));
    const observed = await store.transaction(async (tx) => {
      await tx.insertUser(user('new'));
      await tx.deleteCredential('none');
      return {
        txNew: (await tx.userById('new')) !== null,
        storeNew: (await store.userById('new')) !== null,
        storeOld: (await store.userById('old')) !== null,
        storeByEmail: (await store.userByEmail('NEW@example.com')) !== null,
      };
    });
    assert.deepEqual(observed, { txNew: true, storeNew: false, storeOld: true, storeByEmail: false });
    assert.ok(await store.userById('new'), 'visible once committed');
    assert.ok(await store.userByEmail('NEW@Example.COM'), 'and by e-mail, without regard to case');
  });
});

describe('audit events without a transaction', () => {
  test('recordAudit + flush: every event committed, in order, field for field', async () => {
    const file = newFile();
    const store = await open(file);
    const events = [
      auditEvent('ds100.lookup'),
      auditEvent('ds100.enable', { kind: 'unauthenticated', subject: null, role: null, outcome: 'denied', status: 403, target: {} }),
      auditEvent('users.lookup', { outcome: 'not_found', status: 404, target: { email: 'x@example.com' }, requestId: null, clientAddress: null }),
    ];
    for (const e of events) store.recordAudit(e);
    await store.flush();
    const stored = await store.audit();
    assert.deepEqual(
      stored.map(({ seq: _, loggedAt: __, ...e }) => e),
      events,
    );
    assert.ok(stored.every((e, i) => i === 0 || e.seq > stored[i - 1]!.seq), 'seq increases');
    assert.equal((rawQuery(file, 'SELECT COUNT(*) AS n FROM audit_events')[0] as { n: number }).n, 3, 'on disk, for another connection');
  });

  test('flush with nothing pending returns, and a pending event survives a failing transaction', async () => {
    const store = await open(newFile());
    await store.flush();
    store.recordAudit(auditEvent('before-failure'));
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.appendAudit(auditEvent('inside-failure'));
        throw new Error('no');
      }),
      /no/,
    );
    await store.flush();
    assert.deepEqual((await store.audit()).map((e) => e.operation), ['before-failure']);
  });

  test('audit({since, limit}) filters by time and bounds the answer', async () => {
    const store = await open(newFile());
    for (const at of ['2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z', '2026-01-03T00:00:00.000Z']) {
      store.recordAudit(auditEvent(`op-${at.slice(8, 10)}`, { at }));
    }
    await store.flush();
    assert.deepEqual((await store.audit({ since: '2026-01-02T00:00:00.000Z' })).map((e) => e.operation), ['op-02', 'op-03']);
    assert.deepEqual((await store.audit({ limit: 2 })).map((e) => e.operation), ['op-01', 'op-02']);
  });

  test('close() commits what is pending; the store refuses work after it', async () => {
    const file = newFile();
    const store = await open(file);
    store.recordAudit(auditEvent('last-words'));
    await close(store);
    await assert.rejects(store.transaction(async () => undefined));
    const reopened = await open(file);
    assert.deepEqual((await reopened.audit()).map((e) => e.operation), ['last-words']);
  });
});

describe('lockFile', () => {
  test('a second store given the same lock file is refused while the first is open, and opens once it is closed', async () => {
    const file = newFile();
    const lockFile = join(file, '..', 'server.lock');
    const first = await openSqliteStore({ file, lockFile });
    stores.push(first);
    await assert.rejects(openSqliteStore({ file, lockFile }), /another ds100-admin server is running on the data folder .*server\.lock/);
    const beside = await open(file); // without the lock file: a command run beside the server
    await beside.transaction((tx) => tx.insertUser(user('beside')));
    await close(first);
    const second = await openSqliteStore({ file, lockFile });
    stores.push(second);
    assert.ok(await second.userById('beside'));
  });
});

describe('files', () => {
  test('the database, its WAL and shared-memory files are mode 0600; a created folder is 0700', async () => {
    const file = join(newFile('unused'), '..', 'nested', 'deeper', 'store.db');
    const store = await open(file);
    await store.transaction((tx) => tx.insertUser(user('u')));
    store.recordAudit(auditEvent('x'));
    await store.flush();
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      assert.ok(existsSync(f), `${f} exists while the store is open`);
      assert.equal(statSync(f).mode & 0o777, 0o600, `${f} mode`);
    }
    assert.equal(statSync(join(file, '..')).mode & 0o777, 0o700, 'folder mode');
  });
});
