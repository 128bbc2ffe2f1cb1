/**
 * The SDK as an OAuth client (contract 10) against a real server: `fromOAuthClient` loads the JWK
 * file `oauth-clients create` writes, gets one token for many calls, gets the next a minute
 * before it expires, and on a 401 gets a new one and tries the call once more. The server and the
 * client share a manual clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ds100AdminClient, OAuthTokenError, UnauthorizedError } from '@ds100-admin/sdk';
import { makeOAuthClientService } from '../../src/auth/oauth-clients.ts';
import { manualClock } from '../../src/domain/clock.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { tempDir } from '../support/stores.ts';
import { DEVICE } from '../support/attacks.ts';

const T = 1_750_000_000;
const clock = manualClock(T * 1000);
const operator = { kind: 'operator' as const, subject: 'sdk-test', role: null, clientAddress: 'local', requestId: null };
let server: TestServer;
const dir = tempDir();

before(async () => {
  // No cache of verified tokens: a signing key's state is read anew (each minute) for every call.
  server = await startServer({ demo: true, clock, tokenCacheSize: 0 });
});
after(async () => {
  await server.close();
  dir.dispose();
});

async function makeClient(alg: 'RS256' | 'ES256', scopes = ['rsa.authenticator.ds100.read', 'rsa.user.read'] as const) {
  const { client, path } = await makeOAuthClientService({ store: server.store, clock }).create(operator, { scopes: [...scopes], alg, saveTo: dir.path });
  const sdk = await Ds100AdminClient.fromOAuthClient({ jwkFile: path!, clientId: client.clientId, issuer: `${server.url}/oauth`, clock, retry: false });
  return { clientId: client.clientId, sdk, path: path! };
}

/** The audit events of `operation` for `clientId` so far. */
async function events(clientId: string, operation: string) {
  await server.store.flush();
  return (await server.store.audit()).filter((e) => e.subject === clientId && e.operation === operation);
}

describe('Ds100AdminClient.fromOAuthClient', () => {
  for (const alg of ['RS256', 'ES256'] as const) {
    test(`${alg}: one token for many calls, the next one a minute before it expires`, async () => {
      const { clientId, sdk } = await makeClient(alg);
      assert.equal(sdk.baseUrl, `${server.url}/AdminInterface/restapi`);
      for (let i = 0; i < 5; i++) assert.equal((await sdk.lookupDs100({ deviceSerialNumber: DEVICE })).length > 0, true);
      assert.equal((await sdk.lookupUser({ email: 'jane.doe@example.com' })).emailAddress, 'jane.doe@example.com');
      assert.equal((await events(clientId, 'oauth.token')).length, 1);
      clock.advance((3600 - 61) * 1000);
      await sdk.lookupDs100({ deviceSerialNumber: DEVICE });
      assert.equal((await events(clientId, 'oauth.token')).length, 1, 'still the first token');
      clock.advance(2000);
      await sdk.lookupDs100({ deviceSerialNumber: DEVICE });
      assert.equal((await events(clientId, 'oauth.token')).length, 2, 'renewed a minute before expiry');
    });
  }

  test('a token the server refuses (401) is replaced and the call tried once more, unseen by the caller', async () => {
    const { clientId, sdk } = await makeClient('ES256');
    const first = await sdk.token();
    await sdk.lookupDs100({ deviceSerialNumber: DEVICE });
    await server.store.flush();
    const trailBefore = (await server.store.audit()).length;
    // The key that signed it is declared retired before the token was issued (as after a
    // compromise): the server refuses the token once it rereads the key, a minute on.
    const kid = (JSON.parse(Buffer.from(first.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    await server.store.transaction((tx) => tx.retireSigningKey(kid, new Date(clock.now() - 120_000).toISOString(), new Date(clock.now() + 7_200_000).toISOString()));
    clock.advance(61_000);
    const records = await sdk.lookupDs100({ deviceSerialNumber: DEVICE });
    assert.ok(records.length > 0);
    assert.notEqual(await sdk.token(), first);
    await server.store.flush();
    // A refused token names no one (its claims are unproven); the retry is the client's again.
    const lookups = (await server.store.audit()).slice(trailBefore).filter((e) => e.operation === 'ds100.lookup');
    assert.deepEqual(lookups.map((e) => [e.status, e.subject]), [[401, null], [200, clientId]]);
    assert.equal((await events(clientId, 'oauth.token')).length, 2);
  });

  test('a deleted client: the 401, then the token endpoint\'s invalid_client, as an OAuthTokenError', async () => {
    const { clientId, sdk } = await makeClient('RS256');
    await sdk.lookupDs100({ deviceSerialNumber: DEVICE });
    await makeOAuthClientService({ store: server.store, clock }).delete(operator, clientId);
    const error = await sdk.lookupDs100({ deviceSerialNumber: DEVICE }).catch((e: unknown) => e);
    assert.ok(error instanceof OAuthTokenError, String(error));
    assert.equal(error.status, 401);
    assert.equal(error.error, 'invalid_client');
  });

  test('a scope the client does not hold: invalid_scope; a call its scopes do not reach: 403', async () => {
    const { clientId, path } = await makeClient('ES256');
    const asking = await Ds100AdminClient.fromOAuthClient({ jwkFile: path, clientId, issuer: `${server.url}/oauth`, clock, scope: ['rsa.authenticator.ds100.manage'] });
    const refused = await asking.lookupDs100({ deviceSerialNumber: DEVICE }).catch((e: unknown) => e);
    assert.ok(refused instanceof OAuthTokenError);
    assert.equal(refused.error, 'invalid_scope');
    const reader = await Ds100AdminClient.fromOAuthClient({ jwkFile: path, clientId, issuer: `${server.url}/oauth`, clock, scope: 'rsa.authenticator.ds100.read' });
    await reader.lookupDs100({ deviceSerialNumber: DEVICE });
    const forbidden = await reader.lookupUser({ email: 'jane.doe@example.com' }).catch((e: unknown) => e);
    assert.equal((forbidden as { status?: number }).status, 403);
    assert.ok(!(forbidden instanceof UnauthorizedError));
  });
});
