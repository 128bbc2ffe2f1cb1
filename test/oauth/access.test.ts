/**
 * Contract 10, access tokens on the Administration API, over real HTTP: every endpoint takes an
 * access token with its scope beside a key JWT (which works as before); audit events and status
 * changes name the client; rate limits count per client; a deleted client's token is refused at
 * once; an expired token, and a token of a retired signing key, get the 401. Times are placed with
 * a manual clock.
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { makeSigningKeys } from '../../src/auth/signing-keys.ts';
import { manualClock } from '../../src/domain/clock.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { JOHN, DEVICE } from '../support/attacks.ts';
import { assertion, createClient, deleteClient, grantFields, signJws, tokenRequest, type TestClient } from '../support/oauth.ts';

const T = 1_750_000_000;
const clock = manualClock(T * 1000);
let server: TestServer;
let client: TestClient;

before(async () => {
  server = await startServer({ demo: true, clock, rateLimits: { perKey: { capacity: 5, windowSeconds: 60 }, perAddress: { capacity: 1_000_000, windowSeconds: 60 } } });
  client = await createClient(server.store, undefined, 'RS256', clock);
});
after(() => server.close());

/** A token at the manual clock's time. */
async function tokenFor(c: TestClient, scope?: string): Promise<string> {
  const nowSeconds = Math.floor(clock.now() / 1000);
  const reply = await tokenRequest(server.url, grantFields(c, server.url, { scope, client_assertion: assertion(c, `${server.url}/oauth/token`, { nowSeconds }) }));
  assert.equal(reply.status, 200, JSON.stringify(reply.json));
  return reply.json.access_token as string;
}

/** Moves the clock on a whole rate window, so that each test starts with full buckets. */
const freshWindow = () => clock.advance(61_000);

describe('every endpoint', () => {
  test('answers an access token with its scope as it answers a key JWT, and names the client', async () => {
    freshWindow();
    const token = await tokenFor(client);
    const calls: Array<[string, string, unknown]> = [
      ['PATCH', '/v1/ds100/disable/otp', { deviceSerialNumber: DEVICE, userId: JOHN }],
      ['PATCH', '/v1/ds100/enable/otp', { deviceSerialNumber: DEVICE, userId: JOHN }],
      ['PATCH', '/v1/ds100/clearPin/otp', { tokenSerialNumber: '014010008039', userId: JOHN }],
      ['POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }],
      ['POST', '/v1/users/lookup', { email: 'jane.doe@example.com' }],
    ];
    const replies = [];
    for (const [method, path, body] of calls) {
      const viaToken = await server.request(method, path, body, { token });
      assert.equal(viaToken.status, 200, `${path}: ${viaToken.text}`);
      assert.equal(viaToken.headers.get('ratelimit-limit'), '5');
      replies.push(viaToken);
    }
    assert.equal((replies[0]!.json as Array<{ tokenStatusChangedBy: string }>)[0]!.tokenStatusChangedBy, client.clientId);
    // The key JWT beside it, unchanged.
    assert.equal((await server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE })).status, 200);
    await server.store.flush();
    const events = (await server.store.audit()).filter((e) => e.subject === client.clientId && e.operation !== 'oauth.token');
    assert.deepEqual(events.map((e) => e.operation), ['ds100.disable', 'ds100.enable', 'ds100.clearPin', 'ds100.lookup', 'users.lookup']);
    assert.ok(events.every((e) => e.role === null));
  });

  test('the delete endpoint takes rsa.authenticator.ds100.delete', async () => {
    freshWindow();
    const deleter = await createClient(server.store, ['rsa.authenticator.ds100.delete'], 'ES256', clock);
    const token = await tokenFor(deleter);
    const reply = await server.request('DELETE', '/v1/ds100/delete/otp', { tokenSerialNumber: '014010008038', deviceSerialNumber: DEVICE, userId: JOHN }, { token });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(await server.store.credentialByTokenSerial('014010008038'), null);
  });
});

describe('rate limits', () => {
  test('count per client, apart from keys and from other clients', async () => {
    freshWindow();
    const a = await tokenFor(client, 'rsa.authenticator.ds100.read');
    const other = await createClient(server.store, ['rsa.authenticator.ds100.read'], 'ES256', clock);
    const b = await tokenFor(other);
    const lookup = (token?: string) => server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, token ? { token } : {});
    for (let i = 0; i < 5; i++) assert.equal((await lookup(a)).status, 200);
    const limited = await lookup(a);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    // A second token of the same client draws on the same bucket.
    assert.equal((await lookup(await tokenFor(client, 'rsa.authenticator.ds100.read'))).status, 429);
    assert.equal((await lookup(b)).status, 200);
    assert.equal((await lookup()).status, 200);
  });
});

describe('refusals', () => {
  test('a deleted client\'s token is refused at once by the running server, with the 401 of contract 10', async () => {
    freshWindow();
    const doomed = await createClient(server.store, undefined, 'ES256', clock);
    const token = await tokenFor(doomed);
    const lookup = () => server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { token });
    assert.equal((await lookup()).status, 200);
    assert.equal((await lookup()).status, 200, 'served from the verified-token cache');
    await deleteClient(server.store, doomed.clientId);
    const refused = await lookup();
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    const body = refused.json as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['timestamp', 'status', 'error', 'message', 'path']);
    assert.equal(body.status, 401);
    assert.equal(body.error, 'Unauthorized');
    assert.equal(body.path, '/AdminInterface/restapi/v1/ds100/lookup');
  });

  test('an expired token: 401 once past its exp and the skew, not before', async () => {
    freshWindow();
    const token = await tokenFor(client, 'rsa.authenticator.ds100.read');
    const lookup = () => server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { token });
    clock.advance((3600 + 60) * 1000);
    assert.equal((await lookup()).status, 200);
    clock.advance(1000);
    assert.equal((await lookup()).status, 401);
  });
});

describe('signing keys', () => {
  test('rotation: old tokens verify until the old key\'s last token expired; nothing it signs after rotation does; the JWKS follows', async () => {
    freshWindow();
    const before = await tokenFor(client, 'rsa.authenticator.ds100.read');
    const oldKid = (JSON.parse(Buffer.from(before.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    const oldKey = (await server.store.signingKey(oldKid))!;
    const lookup = (token: string) => server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { token });
    const kids = async () => ((await (await fetch(`${server.url}/oauth/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

    const newKid = await makeSigningKeys({ store: server.store, clock }).rotate();
    assert.notEqual(newKid, oldKid);
    assert.equal((await lookup(before)).status, 200, 'a token of the retired key still verifies');
    const after = await tokenFor(client, 'rsa.authenticator.ds100.read');
    assert.equal((JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid, newKid);
    assert.deepEqual((await kids()).sort(), [oldKid, newKid].sort());

    // The retired key (were it to leak) signs nothing more, once the verifiers have read it retired.
    clock.advance(61_000 + 60_000);
    const [h, p] = before.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, number>;
    const nowS = Math.floor(clock.now() / 1000);
    const lateClaims = { ...claims, iat: nowS, exp: nowS + 600, jti: 'late' };
    const late = signJws(JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>, lateClaims, createPrivateKey(oldKey.privateKeyPem), 'ES256');
    assert.equal((await lookup(late)).status, 401, 'signed by the retired key after its retirement');

    // Past the retired key's notAfter: gone from the JWKS, and nothing of it verifies.
    clock.advance((3600 + 60) * 1000);
    const lateButBefore = signJws(JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>,
      { ...lateClaims, iat: claims.iat, exp: Math.floor(clock.now() / 1000) + 300 }, createPrivateKey(oldKey.privateKeyPem), 'ES256');
    assert.equal((await lookup(lateButBefore)).status, 401, 'a token of the retired key, however its times are set');
    assert.deepEqual(await kids(), [newKid]);
    assert.equal((await lookup(await tokenFor(client, 'rsa.authenticator.ds100.read'))).status, 200, 'the new key signs and verifies');
  });

  test('a grant that finds the current key older than 30 days replaces it', async () => {
    freshWindow();
    const kidOf = (t: string) => (JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    const first = kidOf(await tokenFor(client));
    clock.advance(29 * 86_400_000);
    assert.equal(kidOf(await tokenFor(client)), first);
    clock.advance(2 * 86_400_000);
    const replaced = kidOf(await tokenFor(client));
    assert.notEqual(replaced, first);
    assert.equal((await server.store.signingKeys()).filter((k) => k.retiredAt === null).length, 1);
  });
});
