/**
 * The PostgreSQL store against the same expectations as SQLite: one script of writes and reads
 * runs on a fresh store of each engine, and the two transcripts must be identical, byte for byte
 * (JSON), besides the absolute checks along the way. Ordering, case-insensitive e-mail, booleans,
 * nulls, rollback of a failed transaction, buffered audit events, `since`/`limit` of the trail.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ApiError, apiError } from '../../src/errors.ts';
import { postgresMigrations } from '../../src/store/postgres/migrations.ts';
import { sqliteMigrations } from '../../src/store/sqlite/migrations.ts';
import type { StoredAuditEvent } from '../../src/domain/types.ts';
import type { AuditQuery, AuditSearch, Store } from '../../src/domain/store.ts';
import { freshSchema, openTestStore, tempDir, type Engine } from '../support/stores.ts';
import { auditEvent, credential, user } from '../support/scale-out.ts';

async function script(store: Store): Promise<unknown[]> {
  const out: unknown[] = [];
  const note = (label: string, value: unknown) => out.push([label, value]);

  await store.transaction(async (tx) => {
    await tx.insertUser({ ...user('u-1', 'Jane.Doe@Example.COM'), firstName: 'Jane', markDeleted: true, markDeletedAt: '2026-02-01T00:00:00.000Z' });
    await tx.insertUser(user('u-2'));
    // Serials whose byte order differs from a natural-language collation's.
    await tx.insertCredential(credential('c-1', 'u-1', '140100080', 'b-2', { pinSet: true }));
    await tx.insertCredential(credential('c-2', 'u-1', '140100080', 'B-1', { tokenStatus: 'Disabled' }));
    await tx.insertCredential(credential('c-3', 'u-2', '140100080', '_a', { registeredDate: '2025-12-31T23:59:59.999Z' }));
    await tx.insertCredential(credential('c-4', 'u-1', '777', 'a-1'));
    await tx.appendAudit(auditEvent('seed', { outcome: 'changed', at: '2026-01-01T00:00:01.000Z' }));
  });

  note('userById', await store.userById('u-1'));
  note('userById missing', await store.userById('nobody'));
  note('userByEmail any case', await store.userByEmail('jane.doe@example.com'));
  note('userByEmail upper', (await store.userByEmail('JANE.DOE@EXAMPLE.COM'))?.id);
  note('byDevice order', (await store.credentialsByDevice('140100080')).map((c) => c.tokenSerialNumber));
  note('byDevice full', await store.credentialsByDevice('140100080'));
  note('ofUserDevice', (await store.credentialsOfUserDevice('u-1', '140100080')).map((c) => [c.id, c.tokenStatus, c.pinSet]));
  note('byToken', await store.credentialByTokenSerial('b-2'));
  note('byToken case-sensitive', await store.credentialByTokenSerial('B-2'));
  note('deviceCount', await store.deviceCountOfUser('u-1'));
  note('deviceCount none', await store.deviceCountOfUser('nobody'));

  await store.transaction(async (tx) => {
    // Inside a transaction the reads see its own writes.
    await tx.setCredentialStatus('c-2', { tokenStatus: 'Enabled', changedAt: '2026-03-01T00:00:00.000Z', changedBy: 'sub-9' });
    note('tx sees own write', (await tx.credentialByTokenSerial('B-1'))?.tokenStatus);
    await tx.clearCredentialPin('c-1', '2026-03-01T00:00:00.001Z');
    await tx.deleteCredential('c-4');
    note('tx deviceCount', await tx.deviceCountOfUser('u-1'));
    note('tx apiKeys', await tx.apiKeys());
    await tx.insertApiKey({ accessId: 'k-2', role: 'ReadOnly', description: null, publicKeyPem: 'PEM2', createdAt: '2026-01-02T00:00:00.000Z' });
    await tx.insertApiKey({ accessId: 'k-1', role: 'SuperAdmin', description: 'root', publicKeyPem: 'PEM1', createdAt: '2026-01-02T00:00:00.000Z' });
    note('deleteApiKey missing', await tx.deleteApiKey('k-none'));
  });
  note('after changes', await store.credentialsOfUserDevice('u-1', '140100080'));
  note('deleted', await store.credentialByTokenSerial('a-1'));
  note('apiKeys order', (await store.apiKeys()).map((k) => k.accessId));
  note('apiKey', await store.apiKey('k-1'));

  // A failed transaction leaves nothing behind: neither its change nor its audit event.
  const failure = await store
    .transaction(async (tx) => {
      await tx.setCredentialStatus('c-1', { tokenStatus: 'Disabled', changedAt: '2026-04-01T00:00:00.000Z', changedBy: 'sub-x' });
      await tx.appendAudit(auditEvent('ds100.disable', { outcome: 'changed', at: '2026-04-01T00:00:00.000Z' }));
      throw apiError('TOO_MANY_KEYS');
    })
    .then(
      () => 'resolved',
      (e: unknown) => (e instanceof ApiError ? e.errorName : String(e)),
    );
  note('failed transaction', failure);
  note('after rollback', (await store.credentialByTokenSerial('b-2'))?.tokenStatus);

  // A database error (duplicate key) fails only its own transaction; the store keeps working.
  const duplicate = await store.transaction((tx) => tx.insertUser(user('u-2'))).then(
    () => 'resolved',
    () => 'rejected',
  );
  note('duplicate user', duplicate);
  note('still working', (await store.userById('u-2'))?.id);

  // Audit events of calls that changed nothing: buffered, then written in order.
  for (let i = 0; i < 1200; i++) {
    store.recordAudit(auditEvent('ds100.lookup', { at: `2026-05-01T00:00:00.${String(i % 1000).padStart(3, '0')}Z`, requestId: `r-${i}` }));
  }
  await store.flush();
  const trail = await store.audit();
  note('trail length', trail.length);
  note('trail seq increasing', trail.every((e, i) => i === 0 || e.seq > trail[i - 1]!.seq));
  note('trail request order', trail.slice(1).map((e) => e.requestId).join(',') === Array.from({ length: 1200 }, (_, i) => `r-${i}`).join(','));
  // loggedAt is the commit's time, which differs between the two runs: its order is compared instead.
  note('trail first', { ...trail[0], seq: undefined, loggedAt: undefined });
  note('trail loggedAt never decreases', trail.every((e, i) => i === 0 || e.loggedAt >= trail[i - 1]!.loggedAt));
  note('since', (await store.audit({ since: '2026-05-01T00:00:00.998Z' })).map((e) => e.requestId));
  note('limit', (await store.audit({ limit: 3 })).map((e) => e.operation));
  note('since+limit', (await store.audit({ since: '2026-05-01T00:00:00.500Z', limit: 2 })).map((e) => e.requestId));

  // The trail a page at a time: pages of at most pageSize, in seq order, since and limit across
  // page boundaries, and each page read only when asked for (the trail is never all in memory).
  const pagesOf = async (query: AuditQuery) => {
    const pages: StoredAuditEvent[][] = [];
    for await (const page of store.auditPages(query)) pages.push(page);
    return pages;
  };
  const paged = await pagesOf({ pageSize: 500 });
  note('pages', paged.map((p) => p.length));
  note('pages are the trail', JSON.stringify(paged.flat()) === JSON.stringify(trail));
  const sincePaged = await pagesOf({ since: '2026-05-01T00:00:00.500Z', limit: 700, pageSize: 300 });
  note('pages since+limit', sincePaged.map((p) => p.length));
  note('pages since+limit ids', [sincePaged[0]![0]!.requestId, sincePaged.at(-1)!.at(-1)!.requestId]);
  note('pages none', await pagesOf({ since: '2027-01-01T00:00:00.000Z' }));
  const reading = store.auditPages({ pageSize: 1000 })[Symbol.asyncIterator]();
  const first = await reading.next();
  store.recordAudit(auditEvent('ds100.lookup', { at: '2026-06-01T00:00:00.000Z', requestId: 'r-late' }));
  await store.flush();
  const rest: StoredAuditEvent[] = [];
  for (let r = await reading.next(); !r.done; r = await reading.next()) rest.push(...r.value);
  note('pages read lazily', [first.value?.length, rest.length, rest.at(-1)?.requestId]);

  // The trail's one search (`searchAudit`): each condition alone, both orders, keyset positions.
  const at = (h: number) => `2026-07-01T0${h}:00:00.000Z`;
  const searched = [
    auditEvent('ds100.disable', { requestId: 's-1', subject: 'a-9', at: at(0), outcome: 'changed', target: { userId: 'U-9', deviceSerialNumber: '1' } }),
    auditEvent('users.lookup', { requestId: 's-2', subject: 'k-9', at: at(1), outcome: 'not_found', target: { email: 'Zoe%_!@Example.com' } }),
    auditEvent('adminlog.export', { requestId: 's-3', subject: 'k-9', at: at(2), target: {} }),
    auditEvent('console.signin', { requestId: 's-4', subject: null, role: null, at: at(3), outcome: 'denied', target: {} }),
    // A value that holds what a match looks for, a longer id, LIKE's wildcards as letters.
    auditEvent('users.lookup', { requestId: 's-5', at: at(4), target: { email: '"userId":"U-9"' } }),
    auditEvent('ds100.enable', { requestId: 's-6', at: at(5), outcome: 'changed', target: { userId: 'u-99' } }),
    auditEvent('users.lookup', { requestId: 's-7', at: at(6), target: { email: 'zoeAB!@example.com' } }),
  ];
  await store.transaction(async (tx) => {
    for (const e of searched) await tx.appendAudit(e);
  });
  const ids = async (search: AuditSearch) => (await store.searchAudit(search)).map((e) => e.requestId);
  const july = { from: at(0) };
  note('search admin log newest', await ids({ ...july, adminLog: true, order: 'newest', limit: 10 }));
  note('search oldest limit', await ids({ ...july, order: 'oldest', limit: 3 }));
  note('search user id, any case', await ids({ ...july, user: { ids: ['u-9'], emails: [] }, order: 'oldest', limit: 10 }));
  note('search user e-mail, wildcards literal', await ids({ ...july, user: { ids: [], emails: ['zoe%_!@example.COM'] }, order: 'oldest', limit: 10 }));
  note('search user id or e-mail', await ids({ ...july, user: { ids: ['U-99'], emails: ['zoeab!@example.com'] }, order: 'newest', limit: 10 }));
  note('search user none', await ids({ user: { ids: [], emails: [] }, order: 'oldest', limit: 10 }));
  note('search subject', await ids({ ...july, subject: 'k-9', order: 'oldest', limit: 10 }));
  note('search subject, admin log', await ids({ ...july, subject: 'k-9', adminLog: true, order: 'oldest', limit: 10 }));
  note('search activity', await ids({ ...july, activity: { operation: 'console.signin', outcomes: ['not_found', 'invalid', 'denied', 'rate_limited', 'error'] }, order: 'oldest', limit: 10 }));
  note('search activity, other outcome', await ids({ ...july, activity: { operation: 'ds100.disable', outcomes: ['unchanged'] }, order: 'oldest', limit: 10 }));
  note('search from-to', await ids({ from: at(1), to: at(2), order: 'oldest', limit: 10 }));
  const seqOf = async (requestId: string) => (await store.searchAudit({ ...july, order: 'oldest', limit: 10 })).find((e) => e.requestId === requestId)!.seq;
  note('search before', await ids({ beforeSeq: await seqOf('s-5'), order: 'newest', limit: 2 }));
  note('search after', await ids({ afterSeq: await seqOf('s-5'), order: 'oldest', limit: 10 }));
  note('search after, before, filter', await ids({ afterSeq: await seqOf('s-1'), beforeSeq: await seqOf('s-7'), adminLog: true, subject: 'sub-1', order: 'newest', limit: 10 }));

  await store.ping();
  note('ping', 'ok');
  // The console's reads and writes (migration 4).
  await store.transaction(async (tx) => {
    await tx.insertUser(user('u-3', 'jané@example.com'));
    await tx.insertUser(user('u-4', 'Jan@Example.com'));
  });
  note('prefix', (await store.usersByEmailPrefix('jan', 10)).map((u) => u.emailAddress));
  note('prefix non-ASCII', (await store.usersByEmailPrefix('jané', 10)).map((u) => u.id));
  note('prefix limit', (await store.usersByEmailPrefix('j', 2)).map((u) => u.id));
  note('prefix none', await store.usersByEmailPrefix('zz', 10));
  note('credentialsOfUser', (await store.credentialsOfUser('u-1')).map((c) => c.tokenSerialNumber));
  const admin = { id: 'a-1', email: 'Ann@Example.com', role: 'SuperAdmin' as const, createdAt: '2026-01-01T00:00:00.000Z', createdBy: null, enrolledAt: null, revokedAt: null };
  await store.transaction(async (tx) => {
    await tx.insertAdmin(admin);
    await tx.insertAdminInvite({ tokenHash: 'h-1', adminId: 'a-1', createdAt: admin.createdAt, expiresAt: '2026-01-02T00:00:00.000Z', usedAt: null });
    note('invite expired', await tx.useAdminInvite('h-1', '2026-01-02T00:00:00.000Z'));
    note('invite used', await tx.useAdminInvite('h-1', '2026-01-01T12:00:00.000Z'));
    note('invite used twice', await tx.useAdminInvite('h-1', '2026-01-01T12:00:00.000Z'));
    await tx.insertPasskey({ id: 'p-1', adminId: 'a-1', publicKey: 'pk', counter: 2 ** 33, transports: ['usb', 'nfc'], createdAt: admin.createdAt, lastUsedAt: null });
    await tx.usePasskey('p-1', 2 ** 33 + 1, '2026-01-01T13:00:00.000Z');
    await tx.updateAdmin({ ...admin, role: 'ReadOnly', enrolledAt: '2026-01-01T12:00:00.000Z' });
    await tx.insertConsoleSession({ idHash: 's-1', adminId: 'a-1', createdAt: admin.createdAt, lastSeenAt: admin.createdAt });
    await tx.insertConsoleSession({ idHash: 's-2', adminId: 'a-1', createdAt: '2026-01-01T10:00:00.000Z', lastSeenAt: '2026-01-01T10:00:00.000Z' });
    await tx.touchConsoleSession('s-2', '2026-01-01T11:00:00.000Z');
    await tx.deleteStaleConsoleSessions('2026-01-01T05:00:00.000Z', '2025-12-31T00:00:00.000Z');
    await tx.insertChallenge('c-1', 'signin', '2026-01-01T00:00:00.000Z', '2026-01-01T00:05:00.000Z');
    note('challenge other purpose', await tx.takeChallenge('c-1', 'enrol:x', '2026-01-01T00:01:00.000Z'));
    note('challenge', await tx.takeChallenge('c-1', 'signin', '2026-01-01T00:01:00.000Z'));
    note('challenge twice', await tx.takeChallenge('c-1', 'signin', '2026-01-01T00:01:00.000Z'));
  });
  note('adminByEmail any case', await store.adminByEmail('ANN@example.com'));
  note('admins', await store.admins());
  note('invite', await store.adminInvite('h-1'));
  note('passkeysOfAdmin', await store.passkeysOfAdmin('a-1'));
  note('sessions', [await store.consoleSession('s-1'), await store.consoleSession('s-2')]);
  await store.transaction(async (tx) => {
    note('deleteConsoleSession', [await tx.deleteConsoleSession('s-2'), await tx.deleteConsoleSession('s-2')]);
    await tx.deletePasskeysOfAdmin('a-1');
    await tx.deleteAdminInvites('a-1');
    await tx.deleteConsoleSessionsOfAdmin('a-1');
  });
  note('after admin deletes', [await store.passkey('p-1'), await store.adminInvite('h-1')]);
  return out;
}

const transcripts = new Map<Engine, unknown[]>();

describe('both engines answer identically', () => {
  for (const engine of ['sqlite', 'postgres'] as const) {
    test(`${engine}: the script runs and its answers hold`, async () => {
      const { store, dispose } = await openTestStore(engine);
      try {
        assert.equal(store.engine, engine);
        const t = await script(store);
        transcripts.set(engine, t);
        const get = (label: string) => (t.find((x) => (x as [string])[0] === label) as [string, unknown])[1];
        assert.deepEqual(get('byDevice order'), ['_a', 'B-1', 'b-2']);
        assert.equal(get('userByEmail upper'), 'u-1');
        assert.equal(get('byToken case-sensitive'), null);
        assert.equal(get('tx sees own write'), 'Enabled');
        assert.equal(get('failed transaction'), 'TOO_MANY_KEYS');
        assert.equal(get('after rollback'), 'Enabled');
        assert.equal(get('duplicate user'), 'rejected');
        assert.equal(get('trail length'), 1201);
        assert.equal(get('trail request order'), true);
        assert.deepEqual(get('pages'), [500, 500, 201]);
        assert.equal(get('pages are the trail'), true);
        assert.deepEqual(get('pages since+limit'), [300, 200]);
        assert.deepEqual(get('pages since+limit ids'), ['r-500', 'r-999']);
        assert.deepEqual(get('pages none'), []);
        assert.deepEqual(get('pages read lazily'), [1000, 202, 'r-late']);
        assert.deepEqual(get('apiKeys order'), ['k-1', 'k-2']);
        assert.deepEqual(get('search admin log newest'), ['s-7', 's-6', 's-5', 's-4', 's-2', 's-1']);
        assert.deepEqual(get('search oldest limit'), ['s-1', 's-2', 's-3']);
        assert.deepEqual(get('search user id, any case'), ['s-1']);
        assert.deepEqual(get('search user e-mail, wildcards literal'), ['s-2']);
        assert.deepEqual(get('search user id or e-mail'), ['s-7', 's-6']);
        assert.deepEqual(get('search user none'), []);
        assert.deepEqual(get('search subject'), ['s-2', 's-3']);
        assert.deepEqual(get('search subject, admin log'), ['s-2']);
        assert.deepEqual(get('search activity'), ['s-4']);
        assert.deepEqual(get('search activity, other outcome'), []);
        assert.deepEqual(get('search from-to'), ['s-2', 's-3']);
        assert.deepEqual(get('search before'), ['s-4', 's-3']);
        assert.deepEqual(get('search after'), ['s-6', 's-7']);
        assert.deepEqual(get('search after, before, filter'), ['s-6', 's-5']);
        assert.equal((get('userById') as { markDeleted: boolean }).markDeleted, true);
      } finally {
        await dispose();
      }
    });
  }

  test('the transcripts of SQLite and PostgreSQL are the same', () => {
    const sqlite = transcripts.get('sqlite');
    const postgres = transcripts.get('postgres');
    assert.ok(sqlite && postgres, 'both engines ran the script');
    assert.equal(JSON.stringify(postgres), JSON.stringify(sqlite));
  });

  test('the two engines have the same migrations, version for version', () => {
    assert.deepEqual(
      postgresMigrations.map((m) => [m.version, m.name]),
      sqliteMigrations.map((m) => [m.version, m.name]),
    );
  });
});

/**
 * Migration 6 on a trail written before it: each older row gets the user its target names
 * (`target_user`, as the writer fills it for new rows), so the search by user finds old and new
 * events alike, on both engines.
 */
describe('migration 6 fills the user of older events', () => {
  const OLD_ROWS: Array<[string, string]> = [
    ['ds100.enable', '{"userId":"U-1","deviceSerialNumber":"1"}'],
    ['users.lookup', '{"email":"Ann@Example.COM"}'],
    ['apikey.create', '{"accessId":"k-1"}'],
    ['user.add', '{"userId":"u-2","email":"b@example.com"}'],
  ];
  const insert = `INSERT INTO audit_events (at, subject, role, client_address, request_id, operation, target, outcome, status, logged_at, admin_position)
    VALUES ${OLD_ROWS.map((_, i) => `('2026-01-01T00:00:0${i}.000Z', 'sub', 'ReadOnly', '127.0.0.1', 'old-${i + 1}', ?, ?, 'changed', 200, '2026-01-01T00:00:0${i}.000Z', ${i + 1})`).join(', ')}`;
  /** The sequencer as the writer leaves it after those rows. */
  const sequencer = `UPDATE audit_sequence SET admin_position = ${OLD_ROWS.length}, logged_at = '2026-01-01T00:00:0${OLD_ROWS.length - 1}.000Z'`;

  /** A store of `engine` at migration 5 holding OLD_ROWS; `open` opens it as the server would (migrating it). */
  async function atVersion5(engine: Engine): Promise<{ open(): Promise<Store>; dispose(): Promise<void> }> {
    const values = OLD_ROWS.flat();
    if (engine === 'sqlite') {
      const { default: Database } = await import('better-sqlite3');
      const { openSqliteStore } = await import('../../src/store/sqlite/index.ts');
      const dir = tempDir();
      const file = join(dir.path, 'old.db');
      const db = new Database(file);
      db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      for (const m of sqliteMigrations.filter((m) => m.version <= 5)) {
        db.exec(m.sql);
        db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, '2026-01-01T00:00:00.000Z');
      }
      db.prepare(insert).run(...values);
      db.exec(sequencer);
      db.close();
      return { open: () => openSqliteStore({ file }), dispose: async () => dir.dispose() };
    }
    const { Client } = await import('pg');
    const { connectionUrl, openPostgresStore } = await import('../../src/store/postgres/index.ts');
    const fresh = await freshSchema();
    const client = new Client({ connectionString: connectionUrl(fresh.url, fresh.schema) });
    await client.connect();
    try {
      await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      for (const m of postgresMigrations.filter((m) => m.version <= 5)) {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2, $3)', [m.version, m.name, '2026-01-01T00:00:00.000Z']);
      }
      let n = 0;
      await client.query(insert.replace(/\?/g, () => `$${++n}`), values);
      await client.query(sequencer);
    } finally {
      await client.end();
    }
    return { open: () => openPostgresStore({ url: fresh.url, schema: fresh.schema, poolSize: 2 }), dispose: fresh.dispose };
  }

  for (const engine of ['sqlite', 'postgres'] as const) {
    test(`${engine}: old and new events are found by their user`, async () => {
      const old = await atVersion5(engine);
      try {
        const store = await old.open();
        try {
          await store.transaction((tx) => tx.appendAudit(auditEvent('ds100.disable', { requestId: 'new-1', target: { userId: 'u-1' } })));
          const found = async (ids: string[], emails: string[]) =>
            (await store.searchAudit({ user: { ids, emails }, order: 'oldest', limit: 10 })).map((e) => e.requestId);
          assert.deepEqual(await found(['u-1'], []), ['old-1', 'new-1']);
          assert.deepEqual(await found([], ['ann@example.com']), ['old-2']);
          assert.deepEqual(await found(['U-2'], []), ['old-4'], 'the id, not the e-mail address, when the target has both');
          assert.deepEqual(await found([], ['b@example.com']), []);
          assert.deepEqual(await found(['k-1'], []), [], 'a key is no user');
        } finally {
          await store.close();
        }
      } finally {
        await old.dispose();
      }
    });
  }
});
