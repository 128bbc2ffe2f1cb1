/**
 * The console's OAuth clients page over real HTTP: a SuperAdmin lists, creates and deletes clients
 * through the service `oauth-clients create|delete` uses (the same events); the private JWK is in
 * the create answer only, never in the store or a later answer, and it works at the token
 * endpoint; a bad body changes nothing; Origin and CSRF are checked as on every console change.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, type JsonWebKey } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SCOPES } from '../../src/contract/schemas.ts';
import type { OAuthAlg, Scope } from '../../src/domain/types.ts';
import { signedInAs, type ConsoleClient } from '../support/console.ts';
import { accessToken, type TestClient } from '../support/oauth.ts';
import { startServer, type TestServer } from '../support/server.ts';

interface Listed {
  clientId: string;
  description: string | null;
  scopes: Scope[];
  alg: OAuthAlg;
  kid: string;
  createdAt: string;
}

describe('console: OAuth clients', () => {
  let server: TestServer;
  let sam: ConsoleClient;
  before(async () => {
    server = await startServer({ publicHost: 'localhost', console: { assets: '/nonexistent' } });
    sam = await signedInAs(server, 'sam@example.com', 'SuperAdmin');
  });
  after(() => server.close());

  const trail = async (operation: string) => {
    await server.store.flush();
    return (await server.store.audit()).filter((e) => e.operation === operation);
  };

  test('the page offers the contract\'s scopes and algorithms, and the issuer', async () => {
    const r = await sam.call('GET', '/oauth-clients');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { clients: [], scopes: [...SCOPES], algs: ['RS256', 'ES256'], issuer: `${server.url}/oauth` });
  });

  for (const alg of ['ES256', 'RS256'] as const) {
    test(`${alg}: create hands out the private JWK once; it gets a token; delete; the events are the command line's`, async () => {
      const admin = (await server.store.adminByEmail('sam@example.com'))!;
      const made = await sam.call('POST', '/oauth-clients/create', { scopes: ['rsa.user.read', 'rsa.authenticator.ds100.read'], alg, description: ` help desk board ${alg} ` });
      assert.equal(made.status, 200, made.text);
      assert.equal(made.headers.get('cache-control'), 'no-store', 'an answer that holds a private key is not kept');
      const { client, privateJwk, issuer } = made.json as { client: Listed; privateJwk: JsonWebKey & { kid: string; alg: string; use: string }; issuer: string };
      assert.equal(issuer, `${server.url}/oauth`);
      assert.deepEqual(Object.keys(client), ['clientId', 'description', 'scopes', 'alg', 'kid', 'createdAt']);
      assert.deepEqual([client.description, client.scopes, client.alg], [`help desk board ${alg}`, ['rsa.user.read', 'rsa.authenticator.ds100.read'], alg]);
      assert.deepEqual([privateJwk.kid, privateJwk.alg, privateJwk.use, privateJwk.kty], [client.kid, alg, 'sig', alg === 'ES256' ? 'EC' : 'RSA']);
      assert.ok(typeof privateJwk.d === 'string' && privateJwk.d.length > 20, 'the private half');

      // Never again: not in the list, not in the store.
      const listed = await sam.call('GET', '/oauth-clients');
      assert.deepEqual((listed.json as { clients: Listed[] }).clients.find((c) => c.clientId === client.clientId), client);
      assert.ok(!listed.text.includes(privateJwk.d!), 'the list holds no private key');
      const stored = await server.store.oauthClient(client.clientId);
      assert.ok(stored);
      assert.ok(!JSON.stringify(stored).includes(privateJwk.d!), 'the store holds no private key');
      await server.store.flush();
      assert.ok(!JSON.stringify(await server.store.audit()).includes(privateJwk.d!), 'nor does the trail');

      // The downloaded key is the client's: it gets an access token at the token endpoint.
      const testClient: TestClient = { clientId: client.clientId, alg, kid: client.kid, privateKey: createPrivateKey({ key: privateJwk, format: 'jwk' }), jwk: privateJwk };
      assert.match(await accessToken(testClient, server.url), /^ey/);

      const [created] = (await trail('oauthclient.create')).filter((e) => e.target.clientId === client.clientId);
      assert.deepEqual([created?.subject, created?.role, created?.outcome, created?.status], [admin.id, 'SuperAdmin', 'changed', 200]);
      assert.deepEqual(created?.target, { clientId: client.clientId }, 'the target `oauth-clients create` writes');

      const deleted = await sam.call('POST', '/oauth-clients/delete', { clientId: client.clientId });
      assert.equal(deleted.status, 200, deleted.text);
      assert.equal(await server.store.oauthClient(client.clientId), null);
      await assert.rejects(accessToken(testClient, server.url), /401|400/, 'a deleted client gets no token');
      const [gone] = (await trail('oauthclient.delete')).filter((e) => e.target.clientId === client.clientId);
      assert.deepEqual([gone?.subject, gone?.outcome], [admin.id, 'changed']);
      const again = await sam.call('POST', '/oauth-clients/delete', { clientId: client.clientId });
      assert.equal(again.status, 404);
      assert.equal((again.json as { description: string }).description, `OAuth client ${client.clientId} not found`);
    });
  }

  test('a bad body is refused and registers nothing', async () => {
    const before = await server.store.oauthClients();
    for (const body of [
      { scopes: [], alg: 'ES256', description: '' },
      { scopes: ['rsa.nothing'], alg: 'ES256', description: '' },
      { scopes: ['rsa.user.read', 'rsa.user.read'], alg: 'ES256', description: '' },
      { scopes: ['rsa.user.read'], alg: 'HS256', description: '' },
      { scopes: ['rsa.user.read'], alg: 'ES256', description: 'x'.repeat(201) },
      { scopes: ['rsa.user.read'], alg: 'ES256' },
      { scopes: ['rsa.user.read'], alg: 'ES256', description: '', publicKey: 'PEM' },
    ]) {
      const r = await sam.call('POST', '/oauth-clients/create', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    }
    assert.deepEqual(await server.store.oauthClients(), before);
  });

  test('a create from another origin, or without the CSRF token, is refused', async () => {
    const body = { scopes: ['rsa.user.read'], alg: 'ES256', description: 'forged' };
    assert.equal((await sam.call('POST', '/oauth-clients/create', body, { origin: 'http://evil.example' })).status, 403);
    assert.equal((await sam.call('POST', '/oauth-clients/create', body, { origin: null })).status, 403);
    assert.equal((await sam.call('POST', '/oauth-clients/create', body, { csrf: null })).status, 403);
    assert.equal((await server.store.oauthClients()).filter((c) => c.description === 'forged').length, 0);
  });
});
