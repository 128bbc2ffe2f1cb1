import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  BadRequestError,
  ConnectionError,
  Ds100AdminClient,
  ForbiddenError,
  NotFoundError,
  RateLimitError,
  restBaseUrl,
  type ApiResponseError,
} from '@ds100-admin/sdk';
import { manualClock } from '../../src/domain/clock.ts';
import { API, startServer, type TestServer } from '../support/server.ts';

const JANE = 'ece30fe9-414c-7536-5403-0656220b3046';
const JOHN = '87927fb7-e185-4c33-c7e3-8e077675973c';
const DEVICE = '140100080';

let server: TestServer;
let client: Ds100AdminClient;
before(async () => {
  server = await startServer({ demo: true });
  client = await Ds100AdminClient.fromKeyFile(server.keys.HelpDeskAdmin.keyFile, { retry: false });
});
after(() => server.close());

/** The error a call rejects with, checked to be of `type`. */
async function rejection<T extends Error>(call: Promise<unknown>, type: new (...a: never[]) => T): Promise<T> {
  const error = await call.then(
    () => assert.fail('the call succeeded'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof type, `expected ${type.name}, got ${(error as Error)?.constructor?.name}: ${String(error)}`);
  return error;
}

function assertRequestId(e: ApiResponseError): void {
  assert.equal(typeof e.requestId, 'string');
  assert.ok(e.requestId!.length > 0);
  assert.ok(e.message.includes(e.requestId!), 'the message quotes the request id');
}

describe('happy paths', () => {
  test('enableOtp enables the vendor example credential and names this key as the changer', async () => {
    const items = await client.enableOtp({ deviceSerialNumber: DEVICE, userId: JANE });
    assert.equal(items.length, 1);
    assert.deepEqual(Object.keys(items[0]!), ['userId', 'tokenSerialNumber', 'tokenStatus', 'tokenStatusChangedAt', 'tokenStatusChangedBy', 'deviceSerialNumber']);
    assert.equal(items[0]!.tokenSerialNumber, '014010008031');
    assert.equal(items[0]!.tokenStatus, 'Enabled');
    assert.equal(items[0]!.tokenStatusChangedBy, client.accessId);
  });

  test('disableOtp disables it', async () => {
    const [item] = await client.disableOtp({ deviceSerialNumber: DEVICE, userId: JANE });
    assert.equal(item?.tokenStatus, 'Disabled');
    const stored = await server.store.credentialByTokenSerial('014010008031');
    assert.equal(stored?.tokenStatus, 'Disabled');
  });

  test('lookupDs100 answers every credential of the device, as full records', async () => {
    const records = await client.lookupDs100({ deviceSerialNumber: DEVICE });
    const serials = records.map((r) => r.tokenSerialNumber).sort();
    assert.ok(serials.includes('014010008035') && serials.includes('014010008031'), serials.join());
    const named = records.find((r) => r.tokenSerialNumber === '014010008035');
    assert.equal(named?.name, 'dak-br03-ngx-01');
    assert.equal(named?.deviceType, 'SecurID DS100');
  });

  test('clearPin clears the PIN and answers one object', async () => {
    const result = await client.clearPin({ tokenSerialNumber: '014010008039', userId: JOHN });
    assert.deepEqual(result, { tokenSerialNumber: '014010008039', pinSet: false });
  });

  test('deleteOtp removes the credential and resolves to nothing; a second delete is a NotFoundError', async () => {
    const request = { tokenSerialNumber: '014010008038', deviceSerialNumber: DEVICE, userId: JOHN };
    assert.equal(await client.deleteOtp(request), undefined);
    assert.equal(await server.store.credentialByTokenSerial('014010008038'), null);
    const e = await rejection(client.deleteOtp(request), NotFoundError);
    assert.equal(e.status, 404);
  });

  test('lookupUser matches the e-mail address without regard to case', async () => {
    const user = await client.lookupUser({ email: 'JANE.Doe@Example.com' });
    assert.equal(user.id, JANE);
    assert.equal(user.emailAddress, 'jane.doe@example.com');
    assert.equal(user.userStatus, 'Enabled');
  });

  test('a client from its parts, with a bare origin as base URL, reaches the same endpoints', async () => {
    const key = server.keys.ReadOnly;
    const bare = new Ds100AdminClient({ baseUrl: server.url, accessId: key.keyFile.accessID, privateKey: key.privateKey });
    assert.equal(bare.baseUrl, `${server.url}${API}`);
    assert.equal((await bare.lookupUser({ email: 'alex.kim@example.com' })).firstName, 'Alex');
  });
});

describe('typed errors', () => {
  test('404: NotFoundError with the code, the description and the request id', async () => {
    const e = await rejection(client.enableOtp({ deviceSerialNumber: DEVICE, userId: 'no-such-user' }), NotFoundError);
    assert.equal(e.status, 404);
    assert.equal(e.code, '404 NOT_FOUND');
    assert.equal(e.description, 'User no-such-user not found');
    assertRequestId(e);
    const u = await rejection(client.lookupUser({ email: 'nobody@example.com' }), NotFoundError);
    assert.equal(u.description, 'User nobody@example.com not found');
    await rejection(client.lookupDs100({ deviceSerialNumber: '999999999' }), NotFoundError);
    await rejection(client.clearPin({ tokenSerialNumber: '014010008039', userId: JANE }), NotFoundError);
  });

  test('400: BadRequestError naming the property', async () => {
    const e = await rejection(client.lookupDs100({ deviceSerialNumber: 'x'.repeat(37) }), BadRequestError);
    assert.equal(e.status, 400);
    assert.equal(e.code, '400 BAD_REQUEST');
    assert.match(e.description, /deviceSerialNumber/);
    assertRequestId(e);
  });

  test('403 for a role that may not: ForbiddenError from the Spring body', async () => {
    const readOnly = await Ds100AdminClient.fromKeyFile(server.keys.ReadOnly.keyFile);
    const e = await rejection(readOnly.enableOtp({ deviceSerialNumber: DEVICE, userId: JANE }), ForbiddenError);
    assert.equal(e.status, 403);
    assert.equal(e.code, '403 FORBIDDEN');
    assert.equal(e.description, 'Not authorized to perform the request.');
    assert.equal(e.reason, 'role');
    assert.equal(e.path, `${API}/v1/ds100/enable/otp`);
    assert.equal(typeof e.timestamp, 'number');
    assertRequestId(e);
  });

  test("403 for a key the server does not know: ForbiddenError, reason 'accessId'", async () => {
    const stranger = new Ds100AdminClient({
      baseUrl: server.keys.HelpDeskAdmin.keyFile.adminRestApiUrl,
      accessId: '00000000-0000-4000-8000-000000000000',
      privateKey: server.keys.HelpDeskAdmin.keyFile.accessKey,
    });
    const e = await rejection(stranger.lookupDs100({ deviceSerialNumber: DEVICE }), ForbiddenError);
    assert.equal(e.description, 'Invalid Access Id');
    assert.equal(e.reason, 'accessId');
  });

  test("403 for a token signed for another server: ForbiddenError, reason 'audience'", async () => {
    const elsewhere = await Ds100AdminClient.fromKeyFile(server.keys.HelpDeskAdmin.keyFile, { audience: 'https://admin.example.com', retry: false });
    const e = await rejection(elsewhere.lookupDs100({ deviceSerialNumber: DEVICE }), ForbiddenError);
    assert.equal(e.description, 'Invalid audience');
    assert.equal(e.reason, 'audience');
  });

  test("403 for a token the server's clock has expired: reason 'expired', and the next call signs a new token", async () => {
    const T = 1_750_000_000_000;
    const serverClock = manualClock(T);
    let clientNow = T;
    const skewed = await startServer({ demo: true, clock: serverClock });
    try {
      const c = await Ds100AdminClient.fromKeyFile(skewed.keys.HelpDeskAdmin.keyFile, { retry: false, clock: { now: () => clientNow } });
      await c.lookupDs100({ deviceSerialNumber: DEVICE });
      const first = await c.token();
      // The client's clock runs 2 000 s behind the server's: by its own, the token has 10 minutes left.
      serverClock.set(T + 4_000_000);
      clientNow = T + 2_000_000;
      assert.equal(await c.token(), first, 'the client still holds its token');
      const e = await rejection(c.lookupDs100({ deviceSerialNumber: DEVICE }), ForbiddenError);
      assert.equal(e.description, 'Expired Access Token is not allowed');
      assert.equal(e.reason, 'expired');
      assert.notEqual(await c.token(), first, 'the refused token was dropped');
      assert.ok(Array.isArray(await c.lookupDs100({ deviceSerialNumber: DEVICE })), 'the call with a fresh token succeeds');
    } finally {
      await skewed.close();
    }
  });

  test('429 from the real rate limiter: RateLimitError with Retry-After', async () => {
    const tight = await startServer({ demo: true, rateLimits: { perKey: { capacity: 1, windowSeconds: 60 }, perAddress: { capacity: 100, windowSeconds: 60 } } });
    try {
      const c = await Ds100AdminClient.fromKeyFile(tight.keys.HelpDeskAdmin.keyFile, { retry: false });
      await c.lookupDs100({ deviceSerialNumber: DEVICE });
      const e = await rejection(c.lookupDs100({ deviceSerialNumber: DEVICE }), RateLimitError);
      assert.equal(e.status, 429);
      assert.equal(e.code, '429 TOO_MANY_REQUESTS');
      assert.equal(e.description, 'Too many requests.');
      assert.ok(e.retryAfterMs !== undefined && e.retryAfterMs > 0, `retryAfterMs ${e.retryAfterMs}`);
      assertRequestId(e);
    } finally {
      await tight.close();
    }
  });

  test('nobody listening: ConnectionError with the network code', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const c = await Ds100AdminClient.fromKeyFile(server.keys.HelpDeskAdmin.keyFile, { baseUrl: `http://127.0.0.1:${port}` });
    const e = await rejection(c.lookupDs100({ deviceSerialNumber: DEVICE }), ConnectionError);
    assert.equal(e.errorCode, 'ECONNREFUSED');
  });
});

test('restBaseUrl completes an origin and strips /v1 and trailing slashes', () => {
  const rest = 'https://admin.example.com/AdminInterface/restapi';
  for (const u of ['https://admin.example.com', 'https://admin.example.com/', `${rest}/`, `${rest}/v1`, `${rest}/v1/`, rest]) assert.equal(restBaseUrl(u), rest);
  assert.equal(restBaseUrl('https://h.example.com/tenant7'), 'https://h.example.com/tenant7/AdminInterface/restapi');
  assert.throws(() => restBaseUrl('admin.example.com'), TypeError);
});
