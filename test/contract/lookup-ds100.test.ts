/** Spec 4.5: `POST /AdminInterface/restapi/v1/ds100/lookup`, every OTP credential of a device as full records. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Credential } from '../../src/domain/types.ts';
import type { TestServer } from '../support/server.ts';
import { describeBadBodies, describeIdentifiers, describeNotFound, describeRoles, type Effect, type Setup } from './matrices.ts';
import { auditedCall, bodyFor, call, caller, freshDevice, newCredential, register, useServer } from './setup.ts';
import { CREDENTIAL_KEYS, ENDPOINTS, assertTimestamp, assertWire, errors } from './wire.ts';

const endpoint = ENDPOINTS.lookupDs100;
const context = useServer();
type Row = Record<string, unknown>;

/** A device with two credentials of one user and one of another. */
async function sharedDevice(server: TestServer) {
  const a = await newCredential(server, { name: 'front desk', pinSet: true });
  const a2 = await register(server, { user: a.userId, deviceSerialNumber: a.deviceSerialNumber, tokenStatus: 'Disabled' });
  const b = await newCredential(server, { deviceSerialNumber: a.deviceSerialNumber });
  return { device: a.deviceSerialNumber, credentials: [a, a2, b] };
}

describe('POST /v1/ds100/lookup: the credentials of a device', () => {
  test('200 with an array of full records, keys in the documented order, whoever holds them', async () => {
    const { server } = context;
    const { device, credentials } = await sharedDevice(server);
    const before = await server.store.credentialsByDevice(device);
    const { reply, event } = await auditedCall(server, () => call(server, endpoint, { deviceSerialNumber: device }));
    assert.equal(reply.status, 200, reply.text);
    assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
    const records = reply.json as Row[];
    assert.ok(Array.isArray(records));
    for (const r of records) assert.deepEqual(Object.keys(r), CREDENTIAL_KEYS);
    const byToken = (t: string) => records.find((r) => r.tokenSerialNumber === t);
    assert.deepEqual(records.map((r) => r.tokenSerialNumber).sort(), credentials.map((c) => c.tokenSerialNumber).sort());
    for (const c of credentials) assertWire(byToken(c.tokenSerialNumber), c);

    // What a registered record holds, field by field (spec 4): absent values are null, never missing.
    const [a] = credentials;
    const first = byToken(a!.tokenSerialNumber)!;
    for (const k of ['registeredDate', 'updatedAt', 'assignedAt'] as const) assertTimestamp(first[k], k);
    assert.deepEqual(
      { ...first, registeredDate: '', updatedAt: '', assignedAt: '' },
      {
        id: a!.id, name: 'front desk', userId: a!.userId, deviceType: 'SecurID DS100', registeredDate: '',
        tokenSerialNumber: a!.tokenSerialNumber, updatedAt: '', tokenState: 'Activated', expiryDate: null, tokenStatus: 'Enabled',
        tokenStatusReason: null, assignedAt: '', assignedBy: null, pinSet: true, tokenStatusChangedAt: null,
        tokenStatusChangedBy: null, deviceSerialNumber: device,
      },
    );
    assert.equal(byToken(credentials[1]!.tokenSerialNumber)?.tokenStatus, 'Disabled');

    // A read changes nothing and leaves one event.
    assert.deepEqual(await server.store.credentialsByDevice(device), before);
    assert.deepEqual(
      { operation: event.operation, outcome: event.outcome, status: event.status, target: event.target },
      { operation: 'ds100.lookup', outcome: 'unchanged', status: 200, target: { deviceSerialNumber: device } },
    );
    assert.deepEqual({ subject: event.subject, role: event.role }, caller(server));
  });

  test('a change shows in the record: status, its time and author, updatedAt', async () => {
    const { server } = context;
    const c = await newCredential(server, { tokenStatus: 'Enabled' });
    const body = { deviceSerialNumber: c.deviceSerialNumber, userId: c.userId };
    const disabled = await call(server, ENDPOINTS.disable, body, { role: 'SuperAdmin' });
    assert.equal(disabled.status, 200, disabled.text);
    const changedAt = (disabled.json as Row[])[0]!.tokenStatusChangedAt;
    const reply = await call(server, endpoint, { deviceSerialNumber: c.deviceSerialNumber }, { role: 'ReadOnly' });
    assert.equal(reply.status, 200, reply.text);
    assertWire(reply.json, [{
      ...c, updatedAt: changedAt, tokenStatus: 'Disabled', tokenStatusChangedAt: changedAt,
      tokenStatusChangedBy: server.keys.SuperAdmin.keyFile.accessID,
    }]);
  });
});

const noOtp = (b: Record<string, string>) => errors.deviceHasNoOtp(b.deviceSerialNumber!);
const named = (deviceSerialNumber: string) => ({ deviceSerialNumber });

describeNotFound(context, endpoint, 'when the device has no OTP credential', newCredential, [
  { name: 'a device never registered', body: () => named(freshDevice()), error: noOtp },
  {
    name: 'a device whose only credential was deleted',
    body: async (c, server) => {
      const deleted = await call(server, ENDPOINTS.delete, bodyFor(ENDPOINTS.delete, c));
      assert.equal(deleted.status, 200, deleted.text);
      return named(c.deviceSerialNumber);
    },
    error: noOtp,
  },
  { name: 'the device serial with a leading zero added names another device', body: (c) => named(`0${c.deviceSerialNumber}`), error: noOtp },
  { name: 'a token serial is not a device serial', body: (c) => named(c.tokenSerialNumber), error: noOtp },
  ...['%', '_'].map((wildcard) => ({
    name: `a serial is matched exactly: ${wildcard} is no SQL wildcard`,
    body: (c: Credential) => named(`${c.deviceSerialNumber.slice(0, -1)}${wildcard}`),
    error: noOtp,
  })),
]);

const effect: Effect = async (server, reply, _role, body) => {
  const stored = await server.store.credentialsByDevice(body.deviceSerialNumber as string);
  assert.equal(stored.length, 1);
  assertWire(reply.json, stored);
};

describeIdentifiers(context, endpoint, newCredential, effect);

const setup: Setup = async (server) => bodyFor(endpoint, await newCredential(server));
describeBadBodies(context, endpoint, setup);
describeRoles(context, endpoint, setup, effect);
