/** Spec 4.3: `DELETE /AdminInterface/restapi/v1/ds100/delete/otp`, a DELETE with a JSON body. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Credential } from '../../src/domain/types.ts';
import type { TestServer } from '../support/server.ts';
import { credentialNotFound, describeBadBodies, describeIdentifiers, describeNotFound, describeRoles, idsOf, tokenCases, unknownUser, type Effect, type Setup } from './matrices.ts';
import { auditedCall, bodyFor, call, caller, expectRefused, newCredential, register, useServer } from './setup.ts';
import { ENDPOINTS, errors } from './wire.ts';

const endpoint = ENDPOINTS.delete;
const context = useServer();
const bodyOf = (c: Credential) => bodyFor(endpoint, c);
const gone = async (server: TestServer, c: Credential) => assert.equal(await server.store.credentialByTokenSerial(c.tokenSerialNumber), null);

describe('DELETE /v1/ds100/delete/otp: removes the credential', () => {
  test('200 with an empty body; the credential is gone, its user stays, its history is in the audit trail', async () => {
    const { server } = context;
    const c = await newCredential(server);
    const { reply, event } = await auditedCall(server, () => call(server, endpoint, bodyOf(c)));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.text, '');
    assert.equal(reply.headers.get('content-length'), '0');
    await gone(server, c);
    assert.deepEqual(await server.store.credentialsByDevice(c.deviceSerialNumber), []);
    assert.equal((await server.store.userById(c.userId))?.id, c.userId);
    assert.deepEqual(
      { operation: event.operation, outcome: event.outcome, status: event.status, target: event.target },
      { operation: 'ds100.delete', outcome: 'changed', status: 200, target: bodyOf(c) },
    );
    assert.deepEqual({ subject: event.subject, role: event.role }, caller(server));
  });

  test('only that credential: the same device of other users, the other credentials and devices of the user stay', async () => {
    const { server } = context;
    const c = await newCredential(server);
    const sibling = await register(server, { user: c.userId, deviceSerialNumber: c.deviceSerialNumber });
    const theirs = await newCredential(server, { deviceSerialNumber: c.deviceSerialNumber });
    const otherDevice = await newCredential(server, { userId: c.userId });
    const reply = await call(server, endpoint, bodyOf(c));
    assert.equal(reply.status, 200, reply.text);
    await gone(server, c);
    for (const kept of [sibling, theirs, otherDevice]) {
      assert.deepEqual(await server.store.credentialByTokenSerial(kept.tokenSerialNumber), kept);
    }
  });

  test('a deleted credential is not found the second time', async () => {
    const { server } = context;
    const c = await newCredential(server);
    assert.equal((await call(server, endpoint, bodyOf(c))).status, 200);
    await expectRefused(server, endpoint, bodyOf(c), () => call(server, endpoint, bodyOf(c)), {
      status: 404, outcome: 'not_found', body: errors.credentialNotFound(c.tokenSerialNumber, c.userId), by: caller(server),
    });
  });
});

describeNotFound(context, endpoint, 'unless all three identifiers describe one credential', newCredential, [
  unknownUser,
  ...tokenCases,
  {
    name: "another user's credential on the same device",
    body: async (c, server) => ({ ...idsOf(c), userId: (await newCredential(server, { deviceSerialNumber: c.deviceSerialNumber })).userId }),
    error: credentialNotFound,
  },
  {
    name: "the user's credential named with another of the user's device serials",
    body: async (c, server) => ({ ...idsOf(c), deviceSerialNumber: (await newCredential(server, { userId: c.userId })).deviceSerialNumber }),
    error: credentialNotFound,
  },
  {
    name: 'the device serial with a leading zero added',
    body: (c) => ({ ...idsOf(c), deviceSerialNumber: `0${c.deviceSerialNumber}` }),
    error: credentialNotFound,
  },
]);

const effect: Effect = async (server, reply, _role, body) => {
  assert.equal(reply.text, '');
  assert.equal(await server.store.credentialByTokenSerial(body.tokenSerialNumber as string), null);
};

describeIdentifiers(context, endpoint, newCredential, effect);

const setup: Setup = async (server) => bodyOf(await newCredential(server));
describeBadBodies(context, endpoint, setup);
describeRoles(context, endpoint, setup, effect);
