/**
 * How users and registrations enter the store, on the engine TEST_STORE names (`npm test` runs
 * this file on SQLite and on PostgreSQL): the API's rules for every value, whatever the path in
 * (a NUL is a 400 on both engines, not an engine error); an import that goes on past a bad
 * record, says what it committed, and finishes when run again, skipping what is there and
 * refusing what conflicts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { systemClock } from '../../src/domain/clock.ts';
import {
  ImportInterruptedError,
  ImportStoppedError,
  makeDirectoryService,
  type DirectoryService,
  type ImportRecord,
  type NewRegistration,
  type NewUser,
} from '../../src/domain/directory.ts';
import type { Actor } from '../../src/domain/types.ts';
import { ApiError } from '../../src/errors.ts';
import type { Store } from '../../src/domain/store.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';

const actor: Actor = { kind: 'operator', subject: 'directory-test', role: null, clientAddress: 'local', requestId: null };
let opened: TestStore;
let store: Store;
let directory: DirectoryService;
before(async () => {
  opened = await openTestStore();
  store = opened.store;
  directory = makeDirectoryService({ store, clock: systemClock });
});
after(() => opened.dispose());

async function refusedAs(work: Promise<unknown>, property: string, rule: RegExp): Promise<void> {
  await assert.rejects(work, (e: unknown) => {
    assert.ok(e instanceof ApiError, `an ApiError, not ${String(e)}`);
    assert.equal(e.status, 400);
    assert.match(e.description, new RegExp(`property '${property}'`));
    assert.match(e.description, rule);
    return true;
  });
}

const numbered = <R>(file: string, inputs: R[]): Array<ImportRecord<R>> => inputs.map((input, i) => ({ at: `${file}:${i + 2}`, input }));

async function importUsers(records: Array<ImportRecord<NewUser>>, batchSize?: number) {
  const failures: string[] = [];
  const counts = await directory.importUsers(actor, records, { onFailure: (at, e) => failures.push(`${at}: ${e.message}`), ...(batchSize ? { batchSize } : {}) });
  return { counts, failures };
}

describe('the API rules, on every path in', () => {
  test('a NUL anywhere, an over-long id, a bad address: a 400 naming the property, and nothing stored', async () => {
    await refusedAs(directory.addUser(actor, { email: 'nul\u0000@example.com' }), 'email', /NUL|e-mail/);
    await refusedAs(directory.addUser(actor, { email: 'ok@example.com', id: 'u-\u0000' }), 'userId', /NUL/);
    await refusedAs(directory.addUser(actor, { email: 'ok@example.com', firstName: 'A\u0000' }), 'firstName', /NUL/);
    await refusedAs(directory.addUser(actor, { email: 'ok@example.com', id: 'u'.repeat(37) }), 'userId', /at most 36/);
    await refusedAs(directory.addUser(actor, { email: 'bad-email' }), 'email', /e-mail address/);
    await refusedAs(directory.addUser(actor, { email: `${'a'.repeat(250)}@example.com` }), 'email', /at most 254/);
    assert.equal(await store.userByEmail('ok@example.com'), null);

    await directory.addUser(actor, { id: 'u-rules', email: 'rules@example.com' });
    await refusedAs(directory.register(actor, { user: 'u-rules', deviceSerialNumber: '1401\u000000' }), 'deviceSerialNumber', /NUL/);
    await refusedAs(directory.register(actor, { user: 'u-\u0000', deviceSerialNumber: '140100001' }), 'user', /NUL/);
    await refusedAs(directory.register(actor, { user: 'nul\u0000@example.com', deviceSerialNumber: '140100001' }), 'user', /NUL/);
    await refusedAs(directory.register(actor, { user: 'u-rules', deviceSerialNumber: '140100001', tokenSerialNumber: 't\u0000' }), 'tokenSerialNumber', /NUL/);
    await refusedAs(directory.register(actor, { user: 'u-rules', deviceSerialNumber: '140100001', name: 'n\u0000' }), 'name', /NUL/);
    await refusedAs(directory.register(actor, { user: 'u-rules', deviceSerialNumber: '1'.repeat(37) }), 'deviceSerialNumber', /at most 36/);
    // A minted serial is '0' + device + two digits: it must still be an identifier the API can name.
    await refusedAs(directory.register(actor, { user: 'u-rules', deviceSerialNumber: '1'.repeat(34) }), 'deviceSerialNumber', /at most 33/);
    assert.equal(await store.deviceCountOfUser('u-rules'), 0);
  });

  test('values are trimmed, so a padded serial is stored and minted from as the DS100 prints it', async () => {
    const user = await directory.addUser(actor, { id: '  u-trim  ', email: ' Trim@Example.com ', firstName: '  Tom ', lastName: '   ' });
    assert.deepEqual([user.id, user.emailAddress, user.firstName, user.lastName], ['u-trim', 'Trim@Example.com', 'Tom', null]);
    const credential = await directory.register(actor, { user: ' u-trim ', deviceSerialNumber: '  140100099  ' });
    assert.equal(credential.deviceSerialNumber, '140100099');
    assert.equal(credential.tokenSerialNumber, '014010009931');
  });
});

describe('import', () => {
  test('goes on past bad records, naming each, and counts what it committed', async () => {
    const { counts, failures } = await importUsers([
      ...numbered('a.csv', [{ email: 'a1@example.com', id: 'a-1' }, { email: 'not an address' }, { email: 'a3@example.com', id: 'a-3' }]),
      { at: 'a.csv:5', error: new Error('unterminated quote') },
      { at: 'a.csv:6', input: { email: 'a5@example.com' } },
    ]);
    assert.deepEqual(counts, { committed: 3, alreadyPresent: 0, failed: 2 });
    assert.deepEqual(failures, ["a.csv:3: Invalid value for property 'email': must be an e-mail address, name@domain.", 'a.csv:5: unterminated quote']);
    assert.ok(await store.userById('a-3'));
    assert.ok(await store.userByEmail('a5@example.com'));
  });

  test('an import transaction hands the write lock back after maxTransactionMs, and carries the rest to the next', async () => {
    const records = ['t-1', 't-2', 't-3', 't-4'].map((id) => ({ input: { id, email: `${id}@example.com` } }));
    const progress: number[] = [];
    const counts = await directory.importUsers(actor, records, { maxTransactionMs: 0, onProgress: (c) => progress.push(c.committed) });
    // Each transaction takes one record at the least, and with no time to spare, no more.
    assert.deepEqual(progress, [1, 2, 3, 4]);
    assert.deepEqual(counts, { committed: 4, alreadyPresent: 0, failed: 0 });
    const again: number[] = [];
    await directory.importUsers(actor, records, { maxTransactionMs: 60_000, onProgress: (c) => again.push(c.alreadyPresent) });
    assert.deepEqual(again, [4], 'with time to spare, the four records go in one transaction');
  });

  test('run again on the same records, it skips what is there identically, refuses what conflicts, and finishes the rest', async () => {
    const file: NewUser[] = [
      { email: 'r1@example.com', id: 'r-1', firstName: 'Ann' },
      { email: 'r2@example.com' }, // no id: a new one is made, and the address finds it again
      { email: 'r3@example.com', id: 'r-3', lastName: 'Lee' },
      { email: 'r4@example.com', id: 'r-4' },
      { email: 'r5@example.com', id: 'r-5' },
    ];
    // The first run was killed after its first batch of two.
    const first = await importUsers(numbered('r.csv', file).slice(0, 2), 2);
    assert.deepEqual(first.counts, { committed: 2, alreadyPresent: 0, failed: 0 });
    // Meanwhile someone added r-3 with another last name, and another user with r4's address.
    await directory.addUser(actor, { email: 'r3@example.com', id: 'r-3', lastName: 'Li' });
    await directory.addUser(actor, { email: 'R4@example.com', id: 'r-other' });

    const again = await importUsers(numbered('r.csv', file), 2);
    assert.deepEqual(again.counts, { committed: 1, alreadyPresent: 2, failed: 2 });
    assert.deepEqual(again.failures, ['r.csv:4: User r-3 already exists with a different lastName', 'r.csv:5: User r-4 already exists with a different id']);
    assert.equal((await store.userById('r-3'))?.lastName, 'Li', 'a conflict changes nothing');
    assert.equal(await store.userById('r-4'), null);
    assert.ok(await store.userById('r-5'));
    const third = await importUsers(numbered('r.csv', file));
    assert.deepEqual(third.counts, { committed: 0, alreadyPresent: 3, failed: 2 });
  });

  test('registrations run again: a minted serial is not minted twice, an explicit one conflicts on another user', async () => {
    await directory.addUser(actor, { email: 'g1@example.com', id: 'g-1' });
    await directory.addUser(actor, { email: 'g2@example.com', id: 'g-2' });
    const file: NewRegistration[] = [
      { user: 'g-1', deviceSerialNumber: '300000001' },
      { user: 'g1@example.com', deviceSerialNumber: '300000002', tokenSerialNumber: '030000000250', name: 'desk' },
      { user: 'g-2', deviceSerialNumber: '300000003', tokenSerialNumber: '030000000350', tokenStatus: 'Disabled' },
    ];
    const failures: string[] = [];
    const options = { onFailure: (at: string, e: Error) => failures.push(`${at}: ${e.message}`) };
    assert.deepEqual(await directory.importRegistrations(actor, numbered('g.csv', file), options), { committed: 3, alreadyPresent: 0, failed: 0 });
    // The status is the initial one: the API may change it since, and a re-run is still a re-run.
    const token = (await store.credentialByTokenSerial('030000000350'))!;
    await store.transaction((tx) => tx.setCredentialStatus(token.id, { tokenStatus: 'Enabled', changedAt: new Date().toISOString(), changedBy: 'x' }));
    assert.deepEqual(await directory.importRegistrations(actor, numbered('g.csv', file), options), { committed: 0, alreadyPresent: 3, failed: 0 });
    assert.equal((await store.credentialsOfUserDevice('g-1', '300000001')).length, 1, 'no second minted serial');

    const conflicting: NewRegistration[] = [
      { user: 'g-2', deviceSerialNumber: '300000002', tokenSerialNumber: '030000000250', name: 'desk' },
      { user: 'g-1', deviceSerialNumber: '300000002', tokenSerialNumber: '030000000250', name: 'lab' },
      { user: 'g-1', deviceSerialNumber: '300000001', name: 'lab' },
    ];
    assert.deepEqual(await directory.importRegistrations(actor, numbered('h.csv', conflicting), options), { committed: 0, alreadyPresent: 0, failed: 3 });
    assert.deepEqual(failures, [
      'h.csv:2: OTP credential 030000000250 already exists with a different userId',
      'h.csv:3: OTP credential 030000000250 already exists with a different name',
      `h.csv:4: OTP credential ${(await store.credentialsOfUserDevice('g-1', '300000001'))[0]!.tokenSerialNumber} already exists with a different name`,
    ]);
  });

  test('stopped (Ctrl-C), it says what the batches before committed and where to resume', async () => {
    const interrupt = new AbortController();
    async function* records(): AsyncGenerator<ImportRecord<NewUser>> {
      for (let i = 1; i <= 5; i++) {
        if (i === 4) interrupt.abort();
        yield { at: `s.csv:${i + 1}`, input: { email: `s${i}@example.com`, id: `s-${i}` } };
      }
    }
    await assert.rejects(directory.importUsers(actor, records(), { signal: interrupt.signal, batchSize: 2 }), (e: unknown) => {
      assert.ok(e instanceof ImportStoppedError);
      assert.ok(e.cause instanceof ImportInterruptedError);
      assert.deepEqual(e.counts, { committed: 2, alreadyPresent: 0, failed: 0 });
      assert.equal(e.resumeAt, 's.csv:4', 'record 3 was read but not committed');
      return true;
    });
    assert.ok(await store.userById('s-2'));
    assert.equal(await store.userById('s-3'), null);
  });
});
