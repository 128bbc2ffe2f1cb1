/**
 * Spec 4.1 and 4.2: enable and disable take the same request, follow the same rules and answer
 * the same items, differing only in the status they set. Both test files run these tests, each
 * for its own endpoint.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Credential, TokenStatus } from '../../src/domain/types.ts';
import type { TestServer } from '../support/server.ts';
import { describeBadBodies, describeIdentifiers, describeNotFound, describeRoles, idsOf, unknownUser, type Effect, type Setup, type Target } from './matrices.ts';
import { addUser, auditedCall, bodyFor, call, freshDevice, newCredential, register, timed, useServer } from './setup.ts';
import { STATUS_ITEM_KEYS, assertFresh, assertWire, errors, type Endpoint } from './wire.ts';

type Item = Record<string, unknown>;

export function describeSetStatus(endpoint: Endpoint, status: TokenStatus): void {
  const other: TokenStatus = status === 'Enabled' ? 'Disabled' : 'Enabled';
  const context = useServer();
  const credentialBody = (c: Credential) => bodyFor(endpoint, c);
  /** A fresh credential in the other status: the target of a call that changes it. */
  const target = (server: TestServer, options: Parameters<Target>[1] = {}) => newCredential(server, { ...options, tokenStatus: other });

  describe(`${endpoint.method} ${endpoint.path}: sets ${status}`, () => {
    test(`a credential ${other} becomes ${status}: 200, one item, the time of the change and its author`, async () => {
      const { server } = context;
      const before = await target(server);
      const { reply, event, sentAt, answeredAt } = await auditedCall(server, () => call(server, endpoint, credentialBody(before)));
      assert.equal(reply.status, 200, reply.text);
      assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
      const items = reply.json as Item[];
      assert.equal(items.length, 1);
      const changedAt = items[0]!.tokenStatusChangedAt;
      assertFresh(changedAt, sentAt, answeredAt, 'tokenStatusChangedAt');
      const subject = server.keys.HelpDeskAdmin.keyFile.accessID;
      assertWire(items[0], {
        userId: before.userId,
        tokenSerialNumber: before.tokenSerialNumber,
        tokenStatus: status,
        tokenStatusChangedAt: changedAt,
        tokenStatusChangedBy: subject,
        deviceSerialNumber: before.deviceSerialNumber,
      });
      assert.deepEqual(Object.keys(items[0]!), STATUS_ITEM_KEYS);

      // The store holds the change, and nothing else of the record moved.
      assert.deepEqual(await server.store.credentialByTokenSerial(before.tokenSerialNumber), {
        ...before,
        tokenStatus: status,
        tokenStatusChangedAt: changedAt,
        tokenStatusChangedBy: subject,
        updatedAt: changedAt,
      });
      // Its audit event, committed with the change.
      assert.deepEqual(
        { operation: event.operation, outcome: event.outcome, status: event.status, subject: event.subject, role: event.role },
        { operation: endpoint.operation, outcome: 'changed', status: 200, subject, role: 'HelpDeskAdmin' },
      );
      assert.deepEqual(event.target, { deviceSerialNumber: before.deviceSerialNumber, userId: before.userId });
      assert.equal(event.at, changedAt);
    });

    test(`a credential already ${status}: 200 that changes nothing, timestamps keep their values`, async () => {
      const { server } = context;
      const c = await target(server);
      // A first call by another key sets the status; the second finds it set.
      const first = await call(server, endpoint, credentialBody(c), { role: 'SuperAdmin' });
      assert.equal(first.status, 200, first.text);
      const stored = await server.store.credentialByTokenSerial(c.tokenSerialNumber);
      assert.equal(stored?.tokenStatus, status);

      const { reply, event } = await auditedCall(server, () => call(server, endpoint, credentialBody(c)));
      assert.equal(reply.status, 200, reply.text);
      assertWire(reply.json, first.json);
      assert.equal((reply.json as Item[])[0]!.tokenStatusChangedBy, server.keys.SuperAdmin.keyFile.accessID);
      assert.deepEqual(await server.store.credentialByTokenSerial(c.tokenSerialNumber), stored);
      assert.deepEqual({ outcome: event.outcome, status: event.status }, { outcome: 'unchanged', status: 200 });
    });

    test(`a credential registered ${status} and never changed answers null for the time and author of a change`, async () => {
      const { server } = context;
      const c = await newCredential(server, { tokenStatus: status });
      const reply = await call(server, endpoint, credentialBody(c));
      assert.equal(reply.status, 200, reply.text);
      assertWire(reply.json, [
        { userId: c.userId, tokenSerialNumber: c.tokenSerialNumber, tokenStatus: status, tokenStatusChangedAt: null, tokenStatusChangedBy: null, deviceSerialNumber: c.deviceSerialNumber },
      ]);
    });

    test(`every OTP credential of that device and user becomes ${status}; only those that changed get a new time`, async () => {
      const { server } = context;
      const a = await target(server);
      const b = await register(server, { user: a.userId, deviceSerialNumber: a.deviceSerialNumber, tokenStatus: status });
      const { reply, sentAt, answeredAt } = await timed(() => call(server, endpoint, credentialBody(a)));
      assert.equal(reply.status, 200, reply.text);
      const items = reply.json as Item[];
      const byToken = new Map(items.map((i) => [i.tokenSerialNumber, i]));
      assert.deepEqual([...byToken.keys()].sort(), [a.tokenSerialNumber, b.tokenSerialNumber].sort());
      for (const i of items) {
        assert.deepEqual(Object.keys(i), STATUS_ITEM_KEYS);
        assert.equal(i.tokenStatus, status);
      }
      assertFresh(byToken.get(a.tokenSerialNumber)?.tokenStatusChangedAt, sentAt, answeredAt);
      assert.equal(byToken.get(b.tokenSerialNumber)?.tokenStatusChangedAt, null);
      assert.deepEqual(await server.store.credentialByTokenSerial(b.tokenSerialNumber), b);
    });

    test("the same device's credentials of other users, and the user's other devices, are left alone", async () => {
      const { server } = context;
      const mine = await target(server);
      const theirs = await newCredential(server, { deviceSerialNumber: mine.deviceSerialNumber, tokenStatus: other });
      const myOther = await newCredential(server, { userId: mine.userId, tokenStatus: other });
      const reply = await call(server, endpoint, credentialBody(mine));
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual((reply.json as Item[]).map((i) => i.tokenSerialNumber), [mine.tokenSerialNumber]);
      assert.deepEqual(await server.store.credentialByTokenSerial(theirs.tokenSerialNumber), theirs);
      assert.deepEqual(await server.store.credentialByTokenSerial(myOther.tokenSerialNumber), myOther);
    });
  });

  describeNotFound(context, endpoint, 'unless the device is registered to the user', target, [
    unknownUser,
    {
      name: 'a device not registered to anyone',
      body: (c) => ({ ...idsOf(c), deviceSerialNumber: freshDevice() }),
      error: (b) => errors.deviceNotRegistered(b.deviceSerialNumber!, b.userId!),
    },
    {
      name: 'a device registered to another user',
      body: async (c, server) => ({ ...idsOf(c), userId: (await addUser(server)).id }),
      error: (b) => errors.deviceNotRegistered(b.deviceSerialNumber!, b.userId!),
    },
    {
      name: "the user's device serial with a leading zero added names another device",
      body: (c) => ({ ...idsOf(c), deviceSerialNumber: `0${c.deviceSerialNumber}` }),
      error: (b) => errors.deviceNotRegistered(b.deviceSerialNumber!, b.userId!),
    },
    {
      name: 'a user id differing only in case is another user',
      body: (c) => ({ ...idsOf(c), userId: c.userId.toUpperCase() }),
      error: (b) => errors.userNotFound(b.userId!),
    },
  ]);

  const effect: Effect = async (server, reply, role, body) => {
    const subject = server.keys[role].keyFile.accessID;
    const stored = await server.store.credentialsOfUserDevice(body.userId as string, body.deviceSerialNumber as string);
    assert.deepEqual(stored.map((c) => [c.tokenStatus, c.tokenStatusChangedBy]), [[status, subject]]);
    assertWire(reply.json, stored.map((c) => ({
      userId: body.userId, tokenSerialNumber: c.tokenSerialNumber, tokenStatus: status, tokenStatusChangedAt: c.tokenStatusChangedAt,
      tokenStatusChangedBy: subject, deviceSerialNumber: body.deviceSerialNumber,
    })));
  };
  describeIdentifiers(context, endpoint, target, effect);

  const setup: Setup = async (server) => credentialBody(await target(server));
  describeBadBodies(context, endpoint, setup);
  describeRoles(context, endpoint, setup, effect);
}
