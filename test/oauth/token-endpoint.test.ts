/**
 * Contract 10, the token endpoint parameter by parameter, over real HTTP: the form encoding and
 * its charset, the grant type, the assertion type, `client_id` against `iss`, the scopes asked
 * for (space-separated, `+` in the form, absent meaning all held), the RFC 8414 metadata at both
 * of its addresses and the JWKS. Each request, issued or refused, is one `oauth.token` event.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SCOPES } from '../../src/contract/schemas.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { JWT_BEARER, assertion, createClient, grantFields, tokenRequest, type TestClient } from '../support/oauth.ts';

let server: TestServer;
let client: TestClient;
let readOnly: TestClient;

before(async () => {
  server = await startServer({ demo: true });
  client = await createClient(server.store);
  readOnly = await createClient(server.store, ['rsa.authenticator.ds100.read', 'rsa.user.read'], 'RS256');
});
after(() => server.close());

const fields = (over: Record<string, string | undefined> = {}, c = client) => grantFields(c, server.url, over);

/** The `oauth.token` events recorded since `since` events were in the trail. */
async function tokenEvents(since: number) {
  await server.store.flush();
  return (await server.store.audit()).slice(since).filter((e) => e.operation === 'oauth.token');
}
async function trailLength(): Promise<number> {
  await server.store.flush();
  return (await server.store.audit()).length;
}

/** The claims of an access token, read without checking it. */
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

function assertOAuthError(reply: { status: number; json: Record<string, unknown>; headers: Headers }, status: number, error: string): void {
  assert.equal(reply.status, status, JSON.stringify(reply.json));
  assert.equal(reply.json.error, error);
  assert.equal(typeof reply.json.error_description, 'string');
  assert.deepEqual(Object.keys(reply.json).sort(), ['error', 'error_description']);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(reply.headers.get('cache-control'), 'no-store');
}

describe('a good request', () => {
  test('is answered 200 with a Bearer token of an hour, the granted scope, no-store and no-cache; one event', async () => {
    const before = await trailLength();
    const reply = await tokenRequest(server.url, fields());
    assert.equal(reply.status, 200, JSON.stringify(reply.json));
    assert.deepEqual(Object.keys(reply.json), ['access_token', 'token_type', 'expires_in', 'scope']);
    assert.equal(reply.json.token_type, 'Bearer');
    assert.equal(reply.json.expires_in, 3600);
    assert.equal(reply.json.scope, 'rsa.authenticator.ds100.manage rsa.authenticator.ds100.delete rsa.authenticator.ds100.read rsa.user.read');
    assert.equal(reply.headers.get('cache-control'), 'no-store');
    assert.equal(reply.headers.get('pragma'), 'no-cache');
    const token = reply.json.access_token as string;
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'ES256');
    assert.equal(typeof header.kid, 'string');
    const claims = claimsOf(token);
    assert.equal(claims.iss, `${server.url}/oauth`);
    assert.equal(claims.sub, client.clientId);
    assert.equal(claims.client_id, client.clientId);
    assert.equal(claims.aud, `${server.url}/AdminInterface/restapi`);
    assert.equal((claims.exp as number) - (claims.iat as number), 3600);
    assert.equal(typeof claims.jti, 'string');
    const events = await tokenEvents(before);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.kind, 'oauth_client');
    assert.equal(events[0]!.subject, client.clientId);
    assert.equal(events[0]!.role, null);
    assert.equal(events[0]!.outcome, 'changed');
    assert.deepEqual(events[0]!.target, { clientId: client.clientId, scope: reply.json.scope });
  });

  test('client_id may be left out (the Java client does), and a charset parameter is allowed', async () => {
    assert.equal((await tokenRequest(server.url, fields({ client_id: undefined }))).status, 200);
    for (const type of ['application/x-www-form-urlencoded; charset=UTF-8', 'Application/X-WWW-Form-Urlencoded;charset="utf-8"']) {
      assert.equal((await tokenRequest(server.url, fields(), type)).status, 200, type);
    }
  });

  test('the assertion may name the issuer as its audience instead of the token endpoint, and may leave out kid and typ', async () => {
    const a = assertion(client, `${server.url}/oauth`, { header: { kid: undefined, typ: undefined } });
    assert.equal((await tokenRequest(server.url, fields({ client_assertion: a }))).status, 200);
  });
});

describe('the form', () => {
  test('any other content type, or none, is invalid_request; one event each', async () => {
    const before = await trailLength();
    const form = new URLSearchParams(fields()).toString();
    const cases: Array<[string | null, string]> = [
      ['application/json', JSON.stringify(fields())],
      ['text/plain', form],
      ['multipart/form-data; boundary=x', form],
      ['application/x-www-form-urlencoded; charset=latin2', form],
      ['application/x-www-form-urlencoded; boundary=x', form],
      [null, form],
    ];
    for (const [type, body] of cases) assertOAuthError(await tokenRequest(server.url, body, type), 400, 'invalid_request');
    const events = await tokenEvents(before);
    assert.equal(events.length, cases.length);
    assert.ok(events.every((e) => e.outcome === 'invalid' && e.status === 400 && e.subject === null));
  });

  test('a parameter sent twice is invalid_request', async () => {
    const body = `${new URLSearchParams(fields()).toString()}&grant_type=client_credentials`;
    assertOAuthError(await tokenRequest(server.url, body), 400, 'invalid_request');
  });

  test('GET is not served', async () => {
    const res = await fetch(`${server.url}/oauth/token`);
    assert.equal(res.status, 404);
  });
});

describe('grant_type and client_assertion_type', () => {
  test('a missing grant_type is invalid_request; any other grant type unsupported_grant_type', async () => {
    assertOAuthError(await tokenRequest(server.url, fields({ grant_type: undefined })), 400, 'invalid_request');
    for (const g of ['password', 'authorization_code', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'CLIENT_CREDENTIALS', '']) {
      assertOAuthError(await tokenRequest(server.url, fields({ grant_type: g })), 400, 'unsupported_grant_type');
    }
  });

  test('a missing or other client_assertion_type, or a missing assertion, is invalid_request', async () => {
    assertOAuthError(await tokenRequest(server.url, fields({ client_assertion_type: undefined })), 400, 'invalid_request');
    assertOAuthError(await tokenRequest(server.url, fields({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' })), 400, 'invalid_request');
    assertOAuthError(await tokenRequest(server.url, fields({ client_assertion: undefined })), 400, 'invalid_request');
    assert.equal(JWT_BEARER, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  });
});

describe('client_id', () => {
  test('one that is not the assertion iss is invalid_client, the event naming the client the assertion claims, unverified', async () => {
    const before = await trailLength();
    const reply = await tokenRequest(server.url, fields({ client_id: readOnly.clientId }));
    assertOAuthError(reply, 401, 'invalid_client');
    assert.equal(reply.json.error_description, 'Client authentication failed.');
    const [event] = await tokenEvents(before);
    assert.equal(event?.outcome, 'denied');
    // Refused before its signature was checked: no caller is proven, the claim is named as one.
    assert.equal(event?.kind, 'unauthenticated');
    assert.equal(event?.subject, null);
    assert.deepEqual(event?.target, { clientId: client.clientId, clientUnverified: true, refusal: 'invalid_assertion' });
  });
});

describe('scope', () => {
  test('absent or blank: every scope the client holds', async () => {
    assert.equal((await tokenRequest(server.url, fields({}, readOnly))).json.scope, 'rsa.authenticator.ds100.read rsa.user.read');
    assert.equal((await tokenRequest(server.url, fields({ scope: '' }, readOnly))).json.scope, 'rsa.authenticator.ds100.read rsa.user.read');
  });

  test('space-separated, sent as + by a form encoder (or %20): exactly those granted, in the order asked', async () => {
    const a = assertion(readOnly, `${server.url}/oauth/token`);
    const base = `grant_type=client_credentials&client_assertion_type=${encodeURIComponent(JWT_BEARER)}&client_assertion=${a}`;
    const plus = await tokenRequest(server.url, `${base}&scope=rsa.user.read+rsa.authenticator.ds100.read`);
    assert.equal(plus.status, 200);
    assert.equal(plus.json.scope, 'rsa.user.read rsa.authenticator.ds100.read');
    assert.deepEqual(claimsOf(plus.json.access_token as string).scope, 'rsa.user.read rsa.authenticator.ds100.read');
    const one = await tokenRequest(server.url, fields({ scope: 'rsa.user.read' }, readOnly));
    assert.equal(one.json.scope, 'rsa.user.read');
  });

  test('a scope the client does not hold, an unknown one, or another rsa.* one: invalid_scope, no token', async () => {
    const before = await trailLength();
    for (const scope of ['rsa.authenticator.ds100.manage', 'rsa.user.read rsa.authenticator.ds100.delete', 'rsa.user.write', 'openid', 'RSA.USER.READ']) {
      const reply = await tokenRequest(server.url, fields({ scope }, readOnly));
      assertOAuthError(reply, 400, 'invalid_scope');
      assert.equal(reply.json.access_token, undefined);
    }
    const events = await tokenEvents(before);
    assert.equal(events.length, 5);
    assert.ok(events.every((e) => e.outcome === 'invalid' && e.subject === readOnly.clientId));
  });
});

describe('metadata and JWKS', () => {
  test('RFC 8414 metadata at the issuer path and at the well-known form of it', async () => {
    for (const path of ['/oauth/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server/oauth']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 200, path);
      const m = (await res.json()) as Record<string, unknown>;
      assert.equal(m.issuer, `${server.url}/oauth`);
      assert.equal(m.token_endpoint, `${server.url}/oauth/token`);
      assert.equal(m.jwks_uri, `${server.url}/oauth/jwks`);
      assert.deepEqual(m.grant_types_supported, ['client_credentials']);
      assert.deepEqual(m.token_endpoint_auth_methods_supported, ['private_key_jwt']);
      assert.deepEqual(m.token_endpoint_auth_signing_alg_values_supported, ['RS256', 'ES256']);
      assert.deepEqual(m.scopes_supported, [...SCOPES]);
    }
  });

  test('the JWKS holds the public half of the key that signed a token, and nothing private', async () => {
    const token = (await tokenRequest(server.url, fields())).json.access_token as string;
    const [h, p, s] = token.split('.') as [string, string, string];
    const kid = (JSON.parse(Buffer.from(h, 'base64url').toString()) as { kid: string }).kid;
    const jwks = (await (await fetch(`${server.url}/oauth/jwks`)).json()) as { keys: Array<Record<string, string>> };
    const jwk = jwks.keys.find((k) => k.kid === kid);
    assert.ok(jwk, 'the signing key is published');
    assert.deepEqual(Object.keys(jwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.equal(jwk.alg, 'ES256');
    assert.equal(jwk.use, 'sig');
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    assert.ok(verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url')));
  });
});
