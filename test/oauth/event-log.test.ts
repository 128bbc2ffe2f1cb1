/**
 * Contracts 10 and 11 together: what an OAuth client did, read back through the real admin log
 * export on the engine TEST_STORE names. A call made with an access token reads as the client's
 * (its id, the role name `OAuth Client`, a sentence that says so), not as the command line's; each
 * token request, issued or refused, is one element that names the client (flagged when its claim
 * was not verified), the scopes and why it was refused; a command-line operator still reads as one.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { cliActor } from '../../src/cli/common.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { makeDirectoryService } from '../../src/domain/directory.ts';
import { DEVICE } from '../support/attacks.ts';
import { accessToken, assertion, createClient, grantFields, tokenRequest, type TestClient } from '../support/oauth.ts';
import { startServer, type TestServer } from '../support/server.ts';

type Element = Record<string, unknown> & { eventId: number };

let server: TestServer;
let client: TestClient;
let tokenUrl: string;

before(async () => {
  server = await startServer({ demo: true });
  client = await createClient(server.store, ['rsa.authenticator.ds100.read', 'rsa.user.read'], 'ES256');
  tokenUrl = `${server.url}/oauth/token`;
});
after(() => server.close());

/** The trail's last event number so far: the events of a step are those after it. */
async function mark(): Promise<number> {
  await server.store.flush();
  return (await server.store.audit()).at(-1)?.seq ?? 0;
}

/**
 * The admin log elements of the events after `since`, read through the export endpoint (a
 * ReadOnly key), over a window that ends at the last of their commit times: every page is read.
 */
async function elementsAfter(since: number): Promise<Element[]> {
  await server.store.flush();
  const events = (await server.store.audit()).filter((e) => e.seq > since && !e.operation.endsWith('.export'));
  assert.ok(events.length > 0, 'the step left events');
  // The log's order is the order of the stamps, not of seq: PostgreSQL stamps a call's events after
  // its commit, and a refusal's event is written off the answer's path (contract 11).
  const first = events.reduce((min, e) => (e.loggedAt < min ? e.loggedAt : min), events[0]!.loggedAt);
  const start = new Date(Date.parse(first) - 1).toISOString();
  const end = events.reduce((max, e) => (e.loggedAt > max ? e.loggedAt : max), events[0]!.loggedAt);
  const found: Element[] = [];
  for (let pageNumber = 0; ; pageNumber++) {
    const query = `?startTimeAfter=${encodeURIComponent(start)}&endTimeOnOrBefore=${encodeURIComponent(end)}&pageNumber=${pageNumber}`;
    const reply = await server.request('GET', `/v1/adminlog/exportlogs${query}`, undefined, { role: 'ReadOnly' });
    assert.equal(reply.status, 200, reply.text);
    const page = (reply.json as { elements: Element[] }).elements;
    if (page.length === 0) break;
    found.push(...page.filter((e) => e.eventId > since));
  }
  assert.deepEqual(found.map((e) => e.eventId), events.map((e) => e.seq), 'every event of the step once, in order');
  return found;
}

/** The keys of an element that say who did what, to whom, and how it ended. */
const who = (e: Element) => ({
  adminUserName: e.adminUserName,
  adminUserRole: e.adminUserRole,
  activityKey: e.activityKey,
  result: e.result,
  reasonKey: e.reasonKey,
  message: e.message,
  targetObject1Id: e.targetObject1Id,
  targetObject1Type: e.targetObject1Type,
  targetObject2Id: e.targetObject2Id,
  targetObject2Type: e.targetObject2Type,
});

describe('OAuth clients in the admin log (contracts 10 and 11)', () => {
  test('a lookup made with an access token reads as the OAuth client, by id, role name and sentence', async () => {
    const token = await accessToken(client, server.url, 'rsa.authenticator.ds100.read');
    const since = await mark();
    const reply = await server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { token });
    assert.equal(reply.status, 200, reply.text);
    const [lookup, ...rest] = await elementsAfter(since);
    assert.deepEqual(rest, []);
    assert.deepEqual(who(lookup!), {
      adminUserName: client.clientId,
      adminUserRole: 'OAuth Client',
      activityKey: 'DS100_LOOKUP_UNCHANGED',
      result: 'SUCCESS',
      reasonKey: '',
      message: `OAuth client ${client.clientId} looked up the OTP credentials of DS100 ${DEVICE}.`,
      targetObject1Id: null,
      targetObject1Type: null,
      targetObject2Id: DEVICE,
      targetObject2Type: 'DS100',
    });
  });

  test('a token issued, and each class of refusal, is one element naming the client, the scopes and the reason', async () => {
    const ghost = { ...client, clientId: randomUUID() };
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const spent = assertion(client, tokenUrl);
    const since = await mark();
    const statuses = [];
    // Issued, for the one scope asked.
    statuses.push((await tokenRequest(server.url, grantFields(client, server.url, { scope: 'rsa.user.read' }))).status);
    // An unknown client: its id is the caller's claim only.
    statuses.push((await tokenRequest(server.url, grantFields(ghost, server.url))).status);
    // A real client's id on an assertion signed by another key: claimed, not verified.
    statuses.push((await tokenRequest(server.url, grantFields(client, server.url, { client_assertion: assertion(client, tokenUrl, { key: attacker }) }))).status);
    // A good assertion, used twice: the second is a replay.
    statuses.push((await tokenRequest(server.url, grantFields(client, server.url, { client_assertion: spent }))).status);
    statuses.push((await tokenRequest(server.url, grantFields(client, server.url, { client_assertion: spent }))).status);
    // A scope the client does not hold.
    statuses.push((await tokenRequest(server.url, grantFields(client, server.url, { scope: 'rsa.user.read rsa.authenticator.ds100.delete' }))).status);
    assert.deepEqual(statuses, [200, 401, 401, 200, 401, 400]);

    const id = client.clientId;
    const both = 'rsa.authenticator.ds100.read rsa.user.read';
    const claimed = 'OAuth client (claimed, not verified)';
    const unverified = `A caller claiming to be OAuth client`;
    // A refusal's event is written off the answer's path, so the log may hold them in another order than the requests.
    const byMessage = (a: { message: unknown }, b: { message: unknown }) => String(a.message).localeCompare(String(b.message));
    assert.deepEqual((await elementsAfter(since)).map(who).sort(byMessage), [
      {
        adminUserName: id, adminUserRole: 'OAuth Client', activityKey: 'OAUTH_TOKEN_ISSUE_SUCCESS', result: 'SUCCESS', reasonKey: '',
        message: `OAuth client ${id} was issued an access token for scope rsa.user.read.`,
        targetObject1Id: id, targetObject1Type: 'OAuth client', targetObject2Id: 'rsa.user.read', targetObject2Type: 'OAuth scopes',
      },
      {
        adminUserName: null, adminUserRole: 'Unauthenticated', activityKey: 'OAUTH_TOKEN_ISSUE_DENIED', result: 'FAIL', reasonKey: 'UNKNOWN_CLIENT',
        message: `${unverified} ${ghost.clientId} (not verified) tried to get an access token: no such OAuth client is registered.`,
        targetObject1Id: ghost.clientId, targetObject1Type: claimed, targetObject2Id: null, targetObject2Type: null,
      },
      {
        adminUserName: null, adminUserRole: 'Unauthenticated', activityKey: 'OAUTH_TOKEN_ISSUE_DENIED', result: 'FAIL', reasonKey: 'INVALID_CLIENT_ASSERTION',
        message: `${unverified} ${id} (not verified) tried to get an access token: its client assertion was not valid.`,
        targetObject1Id: id, targetObject1Type: claimed, targetObject2Id: null, targetObject2Type: null,
      },
      {
        adminUserName: id, adminUserRole: 'OAuth Client', activityKey: 'OAUTH_TOKEN_ISSUE_SUCCESS', result: 'SUCCESS', reasonKey: '',
        message: `OAuth client ${id} was issued an access token for scopes ${both}.`,
        targetObject1Id: id, targetObject1Type: 'OAuth client', targetObject2Id: both, targetObject2Type: 'OAuth scopes',
      },
      {
        adminUserName: id, adminUserRole: 'OAuth Client', activityKey: 'OAUTH_TOKEN_ISSUE_DENIED', result: 'FAIL', reasonKey: 'ASSERTION_REPLAYED',
        message: `OAuth client ${id} tried to get an access token for scopes ${both}: its client assertion had already been used.`,
        targetObject1Id: id, targetObject1Type: 'OAuth client', targetObject2Id: both, targetObject2Type: 'OAuth scopes',
      },
      {
        adminUserName: id, adminUserRole: 'OAuth Client', activityKey: 'OAUTH_TOKEN_ISSUE_INVALID', result: 'FAIL', reasonKey: 'SCOPE_NOT_ALLOWED',
        message: `OAuth client ${id} tried to get an access token for scope rsa.authenticator.ds100.delete: the client may not be granted that scope.`,
        targetObject1Id: id, targetObject1Type: 'OAuth client', targetObject2Id: 'rsa.authenticator.ds100.delete', targetObject2Type: 'OAuth scopes',
      },
    ].sort(byMessage));
  });

  test('a request that names no client at all reads as an unauthenticated caller, not as the command line', async () => {
    const since = await mark();
    assert.equal((await tokenRequest(server.url, { grant_type: 'client_credentials' })).status, 400);
    const [refused] = await elementsAfter(since);
    assert.deepEqual(who(refused!), {
      adminUserName: null, adminUserRole: 'Unauthenticated', activityKey: 'OAUTH_TOKEN_ISSUE_INVALID', result: 'FAIL', reasonKey: 'INVALID_REQUEST',
      message: 'An unauthenticated caller tried to get an access token: the request was not valid.',
      targetObject1Id: null, targetObject1Type: null, targetObject2Id: null, targetObject2Type: null,
    });
  });

  test('an operator at the command line still reads as the command line; an API key as an administrator', async () => {
    const operator = cliActor();
    const since = await mark();
    const user = await makeDirectoryService({ store: server.store, clock: systemClock }).addUser(operator, { email: `${randomUUID()}@example.com` });
    assert.equal((await server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE })).status, 200);
    const [added, looked] = await elementsAfter(since);
    assert.equal(added!.adminUserName, operator.subject);
    assert.equal(added!.adminUserRole, 'Local Operator');
    assert.equal(added!.message, `The operator at the command line (${operator.subject}) added user ${user.id}.`);
    const keyId = server.keys.HelpDeskAdmin.keyFile.accessID;
    assert.equal(looked!.adminUserName, keyId);
    assert.equal(looked!.adminUserRole, 'Help Desk Administrator');
    assert.equal(looked!.message, `Administrator ${keyId} looked up the OTP credentials of DS100 ${DEVICE}.`);
  });
});
