/** Spec 4.4: `PATCH /AdminInterface/restapi/v1/ds100/clearPin/otp`, answered with a single object. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Credential } from '../../src/domain/types.ts';
import type { TestServer } from '../support/server.ts';
import { credentialNotFound, describeBadBodies, describeIdentifiers, describeNotFound, describeRoles, idsOf, tokenCases, unknownUser, type Effect, type Setup, type Target } from './matrices.ts';
import { addUser, auditedCall, bodyFor, call, caller, newCredential, useServer } from './setup.ts';
import { ENDPOINTS, assertFresh, assertWire } from './wire.ts';

const endpoint = ENDPOINTS.clearPin;
const context = useServer();
const bodyOf = (c: Credential) => bodyFor(endpoint, c);
const withPin = (server: TestServer, options: Parameters<Target>[1] = {}) => newCredential(server, { pinSet: true, ...options });
const cleared = (c: Credential) => ({ tokenSerialNumber: c.tokenSerialNumber, pinSet: false });

describe('PATCH /v1/ds100/clearPin/otp: clears the PIN', () => {
  test('200 with {tokenSerialNumber, pinSet: false}; the store keeps the rest of the record', async () => {
    const { server } = context;
    const c = await withPin(server, { tokenStatus: 'Disabled' });
    const { reply, event, sentAt, answeredAt } = await auditedCall(server, () => call(server, endpoint, bodyOf(c)));
    assert.equal(reply.status, 200, reply.text);
    assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
    assertWire(reply.json, cleared(c));
    const stored = await server.store.credentialByTokenSerial(c.tokenSerialNumber);
    assertFresh(stored?.updatedAt, sentAt, answeredAt, 'updatedAt');
    assert.deepEqual(stored, { ...c, pinSet: false, updatedAt: stored?.updatedAt });
    assert.deepEqual(
      { operation: event.operation, outcome: event.outcome, status: event.status, target: event.target },
      { operation: 'ds100.clearPin', outcome: 'changed', status: 200, target: bodyOf(c) },
    );
    assert.deepEqual({ subject: event.subject, role: event.role }, caller(server));
  });

  test('a credential without a PIN: the same 200, and nothing changes', async () => {
    const { server } = context;
    const c = await newCredential(server, { pinSet: false });
    const { reply, event } = await auditedCall(server, () => call(server, endpoint, bodyOf(c)));
    assert.equal(reply.status, 200, reply.text);
    assertWire(reply.json, cleared(c));
    assert.deepEqual(await server.store.credentialByTokenSerial(c.tokenSerialNumber), c);
    assert.deepEqual({ outcome: event.outcome, status: event.status }, { outcome: 'unchanged', status: 200 });
  });

  test("only that credential: the user's other credentials keep their PIN", async () => {
    const { server } = context;
    const c = await withPin(server);
    const other = await withPin(server, { userId: c.userId });
    assert.equal((await call(server, endpoint, bodyOf(c))).status, 200);
    assert.deepEqual(await server.store.credentialByTokenSerial(other.tokenSerialNumber), other);
  });
});

describeNotFound(context, endpoint, 'unless the credential belongs to the user', withPin, [
  unknownUser,
  ...tokenCases,
  {
    name: "another user's credential",
    body: async (c, server) => ({ ...idsOf(c), userId: (await addUser(server)).id }),
    error: credentialNotFound,
  },
]);

const effect: Effect = async (server, reply, _role, body) => {
  assertWire(reply.json, { tokenSerialNumber: body.tokenSerialNumber, pinSet: false });
  assert.equal((await server.store.credentialByTokenSerial(body.tokenSerialNumber as string))?.pinSet, false);
};

describeIdentifiers(context, endpoint, withPin, effect);

const setup: Setup = async (server) => bodyOf(await withPin(server));
describeBadBodies(context, endpoint, setup);
describeRoles(context, endpoint, setup, effect);
