/**
 * Contract 10 under attack, over real HTTP. At the token endpoint every forged, replayed or
 * misdirected assertion is a 401 `invalid_client` that says nothing of which check failed, issues
 * no token and spends no `jti`; at the API every forged, foreign, tampered or out-of-scope access
 * token is refused (401 `invalid_token`, or 403 `insufficient_scope`) on the four calls that would
 * change the demo directory, which stays as it was. Each refusal is exactly one audit event.
 */
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, randomUUID, sign as rsaSign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startServer, type TestServer } from '../support/server.ts';
import { MUTATIONS, snapshot } from '../support/attacks.ts';
import { accessToken, assertion, createClient, deleteClient, grantFields, signJws, tokenRequest, type TestClient } from '../support/oauth.ts';

let server: TestServer;
let other: TestServer;
let es: TestClient;
let rs: TestClient;
let readOnly: TestClient;
let tokenUrl: string;

before(async () => {
  server = await startServer({ demo: true });
  other = await startServer({ demo: true });
  es = await createClient(server.store, undefined, 'ES256');
  rs = await createClient(server.store, undefined, 'RS256');
  readOnly = await createClient(server.store, ['rsa.authenticator.ds100.read'], 'ES256');
  tokenUrl = `${server.url}/oauth/token`;
});
after(async () => {
  await server.close();
  await other.close();
});

const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

async function state(): Promise<{ snapshot: string; clients: string; events: number }> {
  await server.store.flush();
  return {
    snapshot: await snapshot(server.store),
    clients: JSON.stringify(await server.store.oauthClients()),
    events: (await server.store.audit()).length,
  };
}

/** Sends a token request that must be refused as `invalid_client`; checks that it changed nothing and left one event. */
async function refusedAssertion(what: string, clientAssertion: string, over: Record<string, string | undefined> = {}, c: TestClient = es): Promise<void> {
  const before = await state();
  const reply = await tokenRequest(server.url, grantFields(c, server.url, { client_assertion: clientAssertion, ...over }));
  assert.equal(reply.status, 401, `${what}: ${JSON.stringify(reply.json)}`);
  assert.deepEqual(reply.json, { error: 'invalid_client', error_description: 'Client authentication failed.' }, what);
  const afterwards = await state();
  assert.equal(afterwards.snapshot, before.snapshot, `${what}: the directory changed`);
  assert.equal(afterwards.clients, before.clients, `${what}: the clients changed`);
  const events = (await server.store.audit()).slice(before.events);
  assert.equal(events.length, 1, `${what}: ${events.length} events`);
  assert.equal(events[0]!.operation, 'oauth.token');
  assert.equal(events[0]!.outcome, 'denied');
  assert.equal(events[0]!.status, 401);
}

describe('the token endpoint refuses', () => {
  test('a replayed assertion, on the same instance; a refused request spends no jti', async () => {
    const once = assertion(es, tokenUrl);
    assert.equal((await tokenRequest(server.url, grantFields(es, server.url, { client_assertion: once }))).status, 200);
    await refusedAssertion('replay', once);
    // The same jti under a new signature is the same assertion id.
    const jti = randomUUID();
    const first = assertion(es, tokenUrl, { claims: { jti } });
    const refusedScope = await tokenRequest(server.url, grantFields(es, server.url, { client_assertion: first, scope: 'rsa.audit.admin' }));
    assert.equal(refusedScope.status, 400);
    assert.equal((await tokenRequest(server.url, grantFields(es, server.url, { client_assertion: first }))).status, 200, 'a refused scope spent the jti');
    await refusedAssertion('replay under a new signature', assertion(es, tokenUrl, { claims: { jti, iat: now() + 1 } }));
  });

  test('alg none, HS256 keyed with the public key, RS512, and the other algorithm of the two', async () => {
    const claims = { iss: rs.clientId, sub: rs.clientId, aud: tokenUrl, exp: now() + 300, jti: randomUUID() };
    await refusedAssertion('alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`, {}, rs);
    await refusedAssertion('alg none, no dot', `${b64({ alg: 'none' })}.${b64(claims)}`, {}, rs);
    const pem = createPublicKey(rs.privateKey).export({ type: 'spki', format: 'pem' }) as string;
    for (const secret of [pem, pem.trim(), JSON.stringify(rs.jwk)]) {
      const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: rs.kid })}.${b64({ ...claims, jti: randomUUID() })}`;
      await refusedAssertion('HS256 with the public key', `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`, {}, rs);
    }
    const rs512Input = `${b64({ alg: 'RS512', typ: 'JWT', kid: rs.kid })}.${b64({ ...claims, jti: randomUUID() })}`;
    await refusedAssertion('RS512', `${rs512Input}.${rsaSign('sha512', Buffer.from(rs512Input), rs.privateKey).toString('base64url')}`, {}, rs);
    await refusedAssertion('ES256 header on an RS256 client', assertion(rs, tokenUrl, { header: { alg: 'ES256' } }), {}, rs);
    await refusedAssertion('PS256', assertion(rs, tokenUrl, { header: { alg: 'PS256' } }), {}, rs);
  });

  test('a wrong or missing aud', async () => {
    for (const aud of [`${server.url}/AdminInterface/restapi`, server.url, `${other.url}/oauth/token`, `${tokenUrl}x`, [`${other.url}/oauth`], 42]) {
      await refusedAssertion(`aud ${JSON.stringify(aud)}`, assertion(es, tokenUrl, { claims: { aud } }));
    }
    await refusedAssertion('no aud', assertion(es, tokenUrl, { claims: { aud: undefined } }));
  });

  test('an expired assertion, one reaching too far ahead, and one without exp or jti', async () => {
    await refusedAssertion('expired', assertion(es, tokenUrl, { claims: { iat: now() - 600, exp: now() - 61 } }));
    await refusedAssertion('exp too far', assertion(es, tokenUrl, { claims: { exp: now() + 3600 + 120 } }));
    await refusedAssertion('exp a string', assertion(es, tokenUrl, { claims: { exp: String(now() + 300) } }));
    await refusedAssertion('no exp', assertion(es, tokenUrl, { claims: { exp: undefined } }));
    await refusedAssertion('no jti', assertion(es, tokenUrl, { claims: { jti: undefined } }));
    await refusedAssertion('iat in the future', assertion(es, tokenUrl, { claims: { iat: now() + 600, exp: now() + 900 } }));
  });

  test('a kid naming another key, iss and sub apart, and a signature by a key that is not the client\'s', async () => {
    await refusedAssertion('kid of another client', assertion(es, tokenUrl, { header: { kid: readOnly.kid } }));
    await refusedAssertion('sub is not iss', assertion(es, tokenUrl, { claims: { sub: readOnly.clientId } }));
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await refusedAssertion('attacker key', assertion(es, tokenUrl, { key: attacker }));
    await refusedAssertion('another client\'s key', assertion(es, tokenUrl, { key: readOnly.privateKey }));
  });

  test('an unknown client and a deleted one; the event names no unknown client', async () => {
    const ghost = { ...es, clientId: randomUUID() };
    const before = (await state()).events;
    await refusedAssertion('unknown client', assertion(ghost, tokenUrl), { client_id: ghost.clientId });
    assert.equal((await server.store.audit()).slice(before)[0]!.subject, null);
    const doomed = await createClient(server.store);
    await deleteClient(server.store, doomed.clientId);
    await refusedAssertion('deleted client', assertion(doomed, tokenUrl), {}, doomed);
  });

  test('a legacy key JWT sent as the assertion, and an access token sent as the assertion', async () => {
    const legacy = await server.sign({ claims: { iss: server.keys.SuperAdmin.keyFile.accessID, aud: tokenUrl, jti: randomUUID() }, key: server.keys.SuperAdmin });
    await refusedAssertion('legacy key JWT', legacy, { client_id: undefined });
    await refusedAssertion('access token', await accessToken(es, server.url), { client_id: undefined });
  });
});

/** Calls each of the four changing endpoints with `authorization`: every call refused with `status`, the directory unchanged, one event each. */
async function refusedEverywhere(what: string, authorization: string, status: 401 | 403, challenge: RegExp): Promise<void> {
  const before = await state();
  for (const m of MUTATIONS) {
    const reply = await server.request(m.method, m.path, m.body, { authorization });
    assert.equal(reply.status, status, `${what} on ${m.path}: ${reply.text}`);
    const body = reply.json as Record<string, unknown>;
    assert.equal(body.status, status);
    assert.equal(body.error, status === 401 ? 'Unauthorized' : 'Forbidden');
    assert.equal(body.message, status === 401 ? 'Invalid access token' : 'Not authorized to perform the request.');
    assert.match(reply.headers.get('www-authenticate') ?? '', challenge, `${what} on ${m.path}`);
  }
  const afterwards = await state();
  assert.equal(afterwards.snapshot, before.snapshot, `${what}: the directory changed`);
  const events = (await server.store.audit()).slice(before.events);
  assert.deepEqual(events.map((e) => e.operation), MUTATIONS.map((m) => m.operation), what);
  assert.ok(events.every((e) => e.outcome === 'denied' && e.status === status), what);
}

const INVALID_TOKEN = /^Bearer error="invalid_token"$/;

describe('the API refuses', () => {
  test('a token on an endpoint its scopes do not reach: 403 insufficient_scope naming the scope needed', async () => {
    const token = await accessToken(readOnly, server.url);
    const before = await state();
    for (const m of MUTATIONS) {
      const reply = await server.request(m.method, m.path, m.body, { token });
      assert.equal(reply.status, 403);
      const needed = m.operation === 'ds100.delete' ? 'rsa.authenticator.ds100.delete' : 'rsa.authenticator.ds100.manage';
      assert.equal(reply.headers.get('www-authenticate'), `Bearer error="insufficient_scope", scope="${needed}"`);
      assert.equal((reply.json as { message: string }).message, 'Not authorized to perform the request.');
    }
    const afterwards = await state();
    assert.equal(afterwards.snapshot, before.snapshot);
    const events = (await server.store.audit()).slice(before.events);
    assert.equal(events.length, MUTATIONS.length);
    assert.ok(events.every((e) => e.outcome === 'denied' && e.subject === readOnly.clientId && e.role === null));
    // Its own scope works: the refusals were for the scope.
    assert.equal((await server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: '140100080' }, { token })).status, 200);
    const narrowed = await accessToken(es, server.url, 'rsa.user.read');
    await refusedEverywhere('a token narrowed to rsa.user.read', `Bearer ${narrowed}`, 403, /insufficient_scope/);
  });

  test('a token issued by another server (its own key, issuer and audience)', async () => {
    const foreign = await createClient(other.store);
    await refusedEverywhere('foreign token', `Bearer ${await accessToken(foreign, other.url)}`, 401, INVALID_TOKEN);
  });

  test('a token forged with this server\'s kid, tampered with, or signed none', async () => {
    const good = await accessToken(es, server.url);
    const [h, p] = good.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await refusedEverywhere('attacker-signed', `Bearer ${signJws(header, claims, attacker, 'ES256')}`, 401, INVALID_TOKEN);
    const widened = await accessToken(readOnly, server.url);
    const [wh, wp, ws] = widened.split('.') as [string, string, string];
    const wclaims = { ...(JSON.parse(Buffer.from(wp, 'base64url').toString()) as object), scope: 'rsa.authenticator.ds100.manage rsa.authenticator.ds100.delete' };
    await refusedEverywhere('scope widened', `Bearer ${wh}.${b64(wclaims)}.${ws}`, 401, INVALID_TOKEN);
    await refusedEverywhere('alg none', `Bearer ${b64({ ...header, alg: 'none' })}.${p}.`, 401, INVALID_TOKEN);
    await refusedEverywhere('kid unknown', `Bearer ${signJws({ ...header, kid: 'nope' }, claims, attacker, 'ES256')}`, 401, INVALID_TOKEN);
  });

  test('a legacy key JWT marked at+jwt; an access token marked as a key JWT is judged as one, and refused', async () => {
    const legacy = await server.sign({ header: { typ: 'at+jwt' } });
    await refusedEverywhere('legacy JWT as access token', `Bearer ${legacy}`, 401, INVALID_TOKEN);
    const good = await accessToken(es, server.url);
    const [, p, s] = good.split('.') as [string, string, string];
    const before = await state();
    for (const m of MUTATIONS) {
      const reply = await server.request(m.method, m.path, m.body, { authorization: `Bearer ${b64({ alg: 'RS256', typ: 'JWT' })}.${p}.${s}` });
      assert.equal(reply.status, 403, reply.text);
      assert.equal(reply.headers.get('www-authenticate'), null);
    }
    assert.equal((await state()).snapshot, before.snapshot);
  });
});

describe('secrets', () => {
  test('no log line holds an assertion, an access token, a client\'s private key or the server\'s signing key', async () => {
    const logLines: string[] = [];
    const logged = await startServer({ demo: true, logLines });
    try {
      const c = await createClient(logged.store);
      const endpoint = `${logged.url}/oauth/token`;
      const good = assertion(c, endpoint);
      const bad = assertion(c, endpoint, { header: { kid: 'wrong' } });
      const token = (await tokenRequest(logged.url, grantFields(c, logged.url, { client_assertion: good }))).json.access_token as string;
      assert.equal((await tokenRequest(logged.url, grantFields(c, logged.url, { client_assertion: good }))).status, 401);
      assert.equal((await tokenRequest(logged.url, grantFields(c, logged.url, { client_assertion: bad }))).status, 401);
      assert.equal((await tokenRequest(logged.url, JSON.stringify({ client_assertion: good }), 'application/json')).status, 400);
      const tampered = `${token.slice(0, -8)}AAAAAAAA`;
      assert.equal((await logged.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: '140100080' }, { token: tampered })).status, 401);
      assert.equal((await logged.request('POST', '/v1/users/lookup', { email: 'x@example.com' }, { token })).status, 404);
      const [signingKey] = await logged.store.signingKeys();
      const secrets = [good, bad, token, tampered, c.jwk.d!, signingKey!.privateKeyPem.split('\n')[1]!];
      assert.ok(logLines.some((l) => l.includes('token request refused')), 'the refusals were logged');
      for (const line of logLines) for (const secret of secrets) assert.ok(!line.includes(secret), `a secret in the log: ${line.slice(0, 200)}`);
    } finally {
      await logged.close();
    }
  });
});
