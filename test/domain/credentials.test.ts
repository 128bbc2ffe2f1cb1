/**
 * The credential service on its own, over the store TEST_STORE names (`npm test` runs this file
 * on SQLite and PostgreSQL), with a clock that moves only when told: what each change does to the
 * records, which audit event it commits with the change, and that the call's actor is marked
 * audited once that commit is done (so the HTTP layer records nothing more for it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auditedTransaction, markAudited } from '../../src/domain/audit.ts';
import { manualClock } from '../../src/domain/clock.ts';
import { makeCredentialService, type CredentialService } from '../../src/domain/credentials.ts';
import type { Store } from '../../src/domain/store.ts';
import type { Actor, StoredAuditEvent } from '../../src/domain/types.ts';
import { ApiError } from '../../src/errors.ts';
import { credential, user } from '../support/records.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';

const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const clock = manualClock(T0);
let opened: TestStore;
let store: Store;
let credentials: CredentialService;
const agent = (): Actor & { subject: string } => ({ kind: 'administrator', subject: 'agent-7', role: 'HelpDeskAdmin', clientAddress: '192.0.2.10', requestId: `r-${Math.random()}` });

before(async () => {
  opened = await openTestStore();
  store = opened.store;
  credentials = makeCredentialService({ store, clock });
  await store.transaction(async (tx) => {
    await tx.insertUser(user('u-1'));
    await tx.insertUser(user('u-2'));
    await tx.insertCredential(credential('c-1', 'u-1', '140100080', '014010008031', { tokenStatus: 'Disabled', pinSet: true }));
    await tx.insertCredential(credential('c-2', 'u-1', '140100080', '014010008032', { tokenStatus: 'Enabled' }));
    await tx.insertCredential(credential('c-3', 'u-2', '140100099', '014010009931'));
  });
});
after(() => opened.dispose());

/** The events the trail gained while `work` ran. */
async function eventsOf(work: () => Promise<unknown>): Promise<StoredAuditEvent[]> {
  const before = (await store.audit()).length;
  await work().catch(() => {});
  await store.flush();
  return (await store.audit()).slice(before);
}

describe('enable and disable', () => {
  test('enable sets every credential of the device Enabled, stamps only those that changed, and commits one changed event', async () => {
    clock.set(T0 + 1000);
    const actor = agent();
    const events = await eventsOf(async () => {
      const items = await credentials.enable(actor, { userId: 'u-1', deviceSerialNumber: '140100080' });
      assert.deepEqual(items.map((i) => [i.tokenSerialNumber, i.tokenStatus]), [['014010008031', 'Enabled'], ['014010008032', 'Enabled']]);
    });
    const [changed, already] = [await store.credentialByTokenSerial('014010008031'), await store.credentialByTokenSerial('014010008032')];
    assert.deepEqual([changed?.tokenStatusChangedAt, changed?.tokenStatusChangedBy, changed?.updatedAt], [new Date(T0 + 1000).toISOString(), 'agent-7', new Date(T0 + 1000).toISOString()]);
    assert.notEqual(already?.tokenStatusChangedAt, new Date(T0 + 1000).toISOString(), 'the one already Enabled keeps its stamps');
    assert.deepEqual(events.map((e) => [e.operation, e.outcome, e.status, e.subject, e.clientAddress]), [['ds100.enable', 'changed', 200, 'agent-7', '192.0.2.10']]);
    assert.equal(markAudited(actor), false, 'the actor was marked audited by the commit');
  });

  test('enable again changes nothing and keeps the timestamps; its event says unchanged', async () => {
    clock.set(T0 + 5000);
    const before = await store.credentialByTokenSerial('014010008031');
    const events = await eventsOf(() => credentials.enable(agent(), { userId: 'u-1', deviceSerialNumber: '140100080' }));
    assert.deepEqual(await store.credentialByTokenSerial('014010008031'), before);
    assert.deepEqual(events.map((e) => e.outcome), ['unchanged']);
  });

  test('disable is the same rule the other way', async () => {
    clock.set(T0 + 9000);
    await credentials.disable(agent(), { userId: 'u-1', deviceSerialNumber: '140100080' });
    assert.deepEqual((await store.credentialsByDevice('140100080')).map((c) => c.tokenStatus), ['Disabled', 'Disabled']);
  });

  test('an unknown user and a device not registered to the user are 404s, each with its own event, and the actor marked', async () => {
    const nobody = agent();
    const events = await eventsOf(() => credentials.enable(nobody, { userId: 'u-404', deviceSerialNumber: '140100080' }));
    await assert.rejects(credentials.enable(agent(), { userId: 'u-404', deviceSerialNumber: '140100080' }), (e: unknown) => e instanceof ApiError && e.errorName === 'USER_NOT_FOUND');
    await assert.rejects(credentials.enable(agent(), { userId: 'u-2', deviceSerialNumber: '140100080' }), (e: unknown) => e instanceof ApiError && e.errorName === 'DEVICE_NOT_REGISTERED');
    assert.deepEqual(events.map((e) => [e.operation, e.outcome, e.status]), [['ds100.enable', 'not_found', 404]]);
    assert.equal(markAudited(nobody), false);
  });
});

describe('delete and clear PIN', () => {
  test('delete needs all three identifiers of one credential', async () => {
    await assert.rejects(credentials.delete(agent(), { userId: 'u-1', deviceSerialNumber: '140100099', tokenSerialNumber: '014010009931' }), /not found for user u-1/);
    assert.ok(await store.credentialByTokenSerial('014010009931'), 'still there');
    await credentials.delete(agent(), { userId: 'u-2', deviceSerialNumber: '140100099', tokenSerialNumber: '014010009931' });
    assert.equal(await store.credentialByTokenSerial('014010009931'), null);
  });

  test('clear PIN answers pinSet false; the first call changes, the second does not', async () => {
    const events = await eventsOf(async () => {
      assert.deepEqual(await credentials.clearPin(agent(), { userId: 'u-1', tokenSerialNumber: '014010008031' }), { tokenSerialNumber: '014010008031', pinSet: false });
      await credentials.clearPin(agent(), { userId: 'u-1', tokenSerialNumber: '014010008031' });
    });
    assert.deepEqual(events.map((e) => [e.operation, e.outcome]), [['ds100.clearPin', 'changed'], ['ds100.clearPin', 'unchanged']]);
    assert.equal((await store.credentialByTokenSerial('014010008031'))?.pinSet, false);
  });

  test('lookup of a device without credentials is DEVICE_HAS_NO_OTP', async () => {
    await assert.rejects(credentials.lookup('999999999'), (e: unknown) => e instanceof ApiError && e.errorName === 'DEVICE_HAS_NO_OTP');
  });
});

test('a transaction that fails marks nothing: the HTTP layer will still record the call', async () => {
  const actor = agent();
  await assert.rejects(auditedTransaction(store, actor, async () => {
    throw new Error('the disk is full');
  }));
  assert.equal(markAudited(actor), true, 'not marked before');
});
