/**
 * Contract 10 across instances: two servers, each with its own PostgreSQL pool on one schema, as
 * two instances behind a balancer. An assertion is single-use across both (the database's unique
 * constraint decides, also when both see it at the same moment); a token issued by one is served
 * by the other; a client deleted through one is refused by the other at once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import type { PostgresStore } from '../../src/store/postgres/index.ts';
import { seedDemo } from '../support/server.ts';
import { sharedSchema } from '../support/scale-out.ts';
import { assertion, createClient, deleteClient, grantFields, tokenRequest, type TestClient } from '../support/oauth.ts';

const PUBLIC_URL = 'http://ds100-admin.test';
const GENEROUS = { perKey: { capacity: 1_000_000, windowSeconds: 60 }, perAddress: { capacity: 1_000_000, windowSeconds: 60 } };

let shared: Awaited<ReturnType<typeof sharedSchema>>;
const instances: Array<{ url: string; store: PostgresStore; close(): Promise<void> }> = [];
let client: TestClient;

before(async () => {
  shared = await sharedSchema();
  for (let i = 0; i < 2; i++) {
    const store = await shared.open();
    const app = buildApp({ store, publicUrl: PUBLIC_URL, rateLimits: GENEROUS });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    instances.push({ url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, store, close: () => app.close() });
  }
  await seedDemo(instances[0]!.store);
  client = await createClient(instances[0]!.store);
});
after(async () => {
  for (const i of instances) await i.close();
  await shared.dispose();
});

const fieldsWith = (clientAssertion: string) => ({ ...grantFields(client, PUBLIC_URL), client_assertion: clientAssertion });
const fresh = () => assertion(client, `${PUBLIC_URL}/oauth/token`);

test('an assertion used on one instance is refused on the other', async () => {
  const once = fresh();
  assert.equal((await tokenRequest(instances[0]!.url, fieldsWith(once))).status, 200);
  const replay = await tokenRequest(instances[1]!.url, fieldsWith(once));
  assert.equal(replay.status, 401);
  assert.equal(replay.json.error, 'invalid_client');
});

test('the same assertion sent to both instances at once is granted exactly once', async () => {
  for (let round = 0; round < 5; round++) {
    const once = fresh();
    const replies = await Promise.all([0, 1, 0, 1].map((i) => tokenRequest(instances[i]!.url, fieldsWith(once))));
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 401, 401, 401], `round ${round}`);
  }
});

test('a token issued by one instance is served by the other, until the client is deleted through the first', async () => {
  const token = (await tokenRequest(instances[0]!.url, fieldsWith(fresh()))).json.access_token as string;
  const lookup = () =>
    fetch(`${instances[1]!.url}/AdminInterface/restapi/v1/ds100/lookup`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceSerialNumber: '140100080' }),
    });
  assert.equal((await lookup()).status, 200);
  await deleteClient(instances[0]!.store, client.clientId);
  const refused = await lookup();
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
});
