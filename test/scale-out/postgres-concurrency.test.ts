/**
 * The PostgreSQL store as several instances use it: separate stores (pools) on one schema, as
 * separate processes would have. Concurrent enable/disable of one credential serialize (no lost
 * update, no `changed` event that disagrees with the final state); the limits of five devices per
 * user and ten keys per tenant hold across instances; migrations started at the same moment are
 * applied once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeKeyService } from '../../src/auth/keys.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { makeCredentialService } from '../../src/domain/credentials.ts';
import { MAX_API_KEYS, MAX_DEVICES_PER_USER } from '../../src/contract/limits.ts';
import { demoRegistrations, demoUsers, loadDemo } from '../../src/domain/demo-seed.ts';
import { makeDirectoryService } from '../../src/domain/directory.ts';
import type { Actor } from '../../src/domain/types.ts';
import { ApiError, apiError } from '../../src/errors.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { postgresMigrations } from '../../src/store/postgres/migrations.ts';
import { freshSchema } from '../support/stores.ts';
import { credential, replayTransitions, seeder, sharedSchema, user } from '../support/scale-out.ts';

const admin = (n: number): Actor & { subject: string } => ({ kind: 'administrator', subject: `admin-${n}`, role: 'HelpDeskAdmin', clientAddress: '127.0.0.1', requestId: `req-${n}` });

describe('two instances on one PostgreSQL schema', () => {
  let shared: Awaited<ReturnType<typeof sharedSchema>>;
  before(async () => {
    shared = await sharedSchema();
  });
  after(() => shared.dispose());

  test('concurrent enable and disable of one credential from two stores serialize', async (t) => {
    const a = await shared.open({ poolSize: 5 });
    const b = await shared.open({ poolSize: 5 });
    // Two credentials on one device, so each change writes two rows.
    await a.transaction(async (tx) => {
      await tx.insertUser(user('toggle-user'));
      await tx.insertCredential(credential('t-1', 'toggle-user', '555000111', '055500011131'));
      await tx.insertCredential(credential('t-2', 'toggle-user', '555000111', '055500011132'));
    });
    const services = [makeCredentialService({ store: a, clock: systemClock }), makeCredentialService({ store: b, clock: systemClock })];
    const input = { userId: 'toggle-user', deviceSerialNumber: '555000111' };

    // A fixed, interleaved pattern: both instances send both operations, all at once.
    const N = 240;
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const results = await Promise.allSettled(
      Array.from({ length: N }, (_, i) => {
        const service = services[i % 2]!;
        const actor = admin(i);
        return random() < 0.5 ? service.enable(actor, input) : service.disable(actor, input);
      }),
    );
    const rejected = results.filter((r) => r.status === 'rejected');
    assert.equal(rejected.length, 0, `every call succeeds: ${rejected.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 3).join('; ')}`);

    const events = (await a.audit()).filter((e) => e.target.deviceSerialNumber === '555000111');
    const changed = events.filter((e) => e.outcome === 'changed');
    const unchanged = events.filter((e) => e.outcome === 'unchanged');
    const replay = replayTransitions(['Enabled', 'Enabled'], changed);
    const final = await b.credentialsOfUserDevice('toggle-user', '555000111');
    const last = changed.at(-1);
    t.diagnostic(`calls ${N}, changed events ${changed.length}, unchanged ${unchanged.length}, transitions ${replay.transitions}`);

    assert.equal(events.length, N, 'one audit event per call');
    assert.equal(replay.impossible, 0, 'no changed event repeats the state before it (a lost update)');
    assert.equal(changed.length, replay.transitions);
    assert.ok(last, 'some call changed something');
    assert.deepEqual(final.map((c) => c.tokenStatus), replay.state, 'the stored state is the one the last changed event names');
    for (const c of final) {
      assert.equal(c.tokenStatusChangedAt, last.at, 'the stored change time is the last changed event’s');
      assert.equal(c.tokenStatusChangedBy, last.subject);
    }
  });

  test('the five-device limit holds when two stores register at once', async () => {
    const a = await shared.open();
    const b = await shared.open();
    await a.transaction((tx) => tx.insertUser(user('many-devices')));
    const dirs = [makeDirectoryService({ store: a, clock: systemClock }), makeDirectoryService({ store: b, clock: systemClock })];
    const results = await Promise.allSettled(
      Array.from({ length: 9 }, (_, i) => dirs[i % 2]!.register(seeder, { user: 'many-devices', deviceSerialNumber: `90000000${i}` })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof ApiError && r.reason.errorName === 'TOO_MANY_DEVICES').length;
    assert.equal(ok, MAX_DEVICES_PER_USER);
    assert.equal(refused, 9 - MAX_DEVICES_PER_USER);
    assert.equal(await a.deviceCountOfUser('many-devices'), MAX_DEVICES_PER_USER);
  });

  test('the same user or serial added by two stores at once: one succeeds, the others get the 409 SQLite gives', async () => {
    const a = await shared.open();
    const b = await shared.open();
    const dirs = [makeDirectoryService({ store: a, clock: systemClock }), makeDirectoryService({ store: b, clock: systemClock })];
    const users = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => dirs[i % 2]!.addUser(seeder, { email: 'Same.Person@example.com' })));
    assert.equal(users.filter((r) => r.status === 'fulfilled').length, 1);
    assert.deepEqual(
      users.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof ApiError ? r.reason.errorName : String(r.reason)] : [])),
      Array(5).fill('USER_EXISTS'),
    );
    const serials = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        dirs[i % 2]!.register(seeder, { user: 'same.person@example.com', deviceSerialNumber: `12300000${i}`, tokenSerialNumber: '012300000999' }),
      ),
    );
    assert.equal(serials.filter((r) => r.status === 'fulfilled').length, 1);
    assert.deepEqual(
      serials.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof ApiError ? r.reason.errorName : String(r.reason)] : [])),
      Array(5).fill('TOKEN_SERIAL_EXISTS'),
    );
  });

  test('the ten-key limit holds when two stores add keys at once', async () => {
    const a = await shared.open();
    const b = await shared.open();
    // What the key service does once the key pair exists (src/auth/keys.ts): lock, count, then add.
    const addKey = (store: typeof a, i: number) =>
      store.transaction(async (tx) => {
        await tx.lockKeys();
        if ((await tx.apiKeys()).length >= MAX_API_KEYS) throw apiError('TOO_MANY_KEYS');
        await tx.insertApiKey({ accessId: `key-${i}`, role: 'ReadOnly', description: null, publicKeyPem: 'PEM', createdAt: new Date().toISOString() });
      });
    const results = await Promise.allSettled(Array.from({ length: 13 }, (_, i) => addKey(i % 2 ? a : b, i)));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof ApiError && r.reason.errorName === 'TOO_MANY_KEYS').length;
    assert.equal(ok, MAX_API_KEYS);
    assert.equal(refused, 13 - MAX_API_KEYS);
    assert.equal((await b.apiKeys()).length, MAX_API_KEYS);
  });
});

test('instances starting together on an empty database make one bootstrap key between them', async () => {
  const fresh = await freshSchema('ds100_boot');
  const stores = await Promise.all([0, 1].map(() => openPostgresStore({ url: fresh.url, schema: fresh.schema, poolSize: 2 })));
  try {
    // What `serve` does on start: createFirst, from each instance, twice each, all at once.
    const made = await Promise.all(
      [0, 1, 0, 1].map((i) => makeKeyService({ store: stores[i]!, clock: systemClock, publicUrl: 'http://127.0.0.1:8080' }).createFirst(seeder)),
    );
    assert.equal(made.filter((m) => m !== null).length, 1, 'exactly one instance made the bootstrap key');
    const keys = await stores[0]!.apiKeys();
    assert.deepEqual(
      keys.map((k) => [k.accessId, k.role]),
      made.flatMap((m) => (m ? [[m.key.accessId, 'SuperAdmin']] : [])),
    );
  } finally {
    for (const s of stores) await s.close();
    await fresh.dispose();
  }
});

test('instances starting together with --demo load the demo directory once between them, and all start', async () => {
  const fresh = await freshSchema('ds100_demo');
  const stores = await Promise.all([0, 1].map(() => openPostgresStore({ url: fresh.url, schema: fresh.schema, poolSize: 2 })));
  try {
    // What `serve --demo` does on start, from each instance, twice each, all at once.
    const added = await Promise.all([0, 1, 0, 1].map((i) => loadDemo(stores[i]!, systemClock, seeder)));
    const records = demoUsers.length + demoRegistrations.length;
    assert.equal(added.reduce((a, b) => a + b, 0), records, `each record added once between them: ${added.join(', ')}`);
    for (const u of demoUsers) assert.equal((await stores[1]!.userById(u.id!))?.emailAddress, u.email);
    assert.equal((await stores[0]!.credentialsByDevice('140100080')).length, demoRegistrations.length);
    const events = await stores[0]!.audit();
    assert.equal(events.filter((e) => e.operation === 'user.add').length, demoUsers.length, 'one audit event per user added');
    assert.equal(events.filter((e) => e.operation === 'ds100.register').length, demoRegistrations.length);
  } finally {
    for (const s of stores) await s.close();
    await fresh.dispose();
  }
});

test('migrations started at the same moment by several instances are applied once', async () => {
  const fresh = await freshSchema('ds100_mig');
  const { Client } = await import('pg');
  const { connectionUrl } = await import('../../src/store/postgres/index.ts');
  try {
    // The schema exists but is empty: every instance finds every migration pending.
    const opened = await Promise.allSettled(
      Array.from({ length: 4 }, () => openPostgresStore({ url: fresh.url, schema: fresh.schema, poolSize: 1 })),
    );
    const stores = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      const failures = opened.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
      assert.deepEqual(failures, [], 'every instance starts');
      const client = new Client({ connectionString: connectionUrl(fresh.url, fresh.schema) });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT version, COUNT(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version');
        assert.deepEqual(
          rows.map((r: { version: number; n: number }) => [r.version, r.n]),
          postgresMigrations.map((m) => [m.version, 1]),
        );
      } finally {
        await client.end();
      }
      // And each works on the same tables.
      await stores[0]!.transaction((tx) => tx.insertUser(user('after-migration')));
      for (const s of stores) assert.equal((await s.userById('after-migration'))?.id, 'after-migration');
    } finally {
      for (const s of stores) await s.close();
    }
  } finally {
    await fresh.dispose();
  }
});

test('a store given a schema that does not exist yet creates it', async () => {
  const fresh = await freshSchema('ds100_new');
  await fresh.dispose(); // now the name is free
  const schema = `${fresh.schema}_x`;
  const store = await openPostgresStore({ url: fresh.url, schema });
  try {
    assert.equal(store.schema, schema);
    await store.transaction((tx) => tx.insertUser(user('in-new-schema')));
    assert.equal((await store.userById('in-new-schema'))?.id, 'in-new-schema');
  } finally {
    await store.close();
    const { Client } = await import('pg');
    const { connectionUrl } = await import('../../src/store/postgres/index.ts');
    const client = new Client({ connectionString: connectionUrl(fresh.url, undefined) });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
  }
});
