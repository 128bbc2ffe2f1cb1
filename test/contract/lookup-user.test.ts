/** Spec 5: `POST /AdminInterface/restapi/v1/users/lookup`, from an e-mail address to the user the DS100 endpoints take. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeBadBodies, describeRoles, type Setup } from './matrices.ts';
import { addUser, auditedCall, call, caller, expectRefused, fresh, useServer } from './setup.ts';
import { ENDPOINTS, USER_KEYS, assertTimestamp, assertWire, errors } from './wire.ts';

const endpoint = ENDPOINTS.lookupUser;
const context = useServer();

describe('POST /v1/users/lookup: the user with an e-mail address', () => {
  test('200 with one user object, keys in the documented order, null where unknown', async () => {
    const { server } = context;
    const user = await addUser(server, { firstName: 'Jane', lastName: 'Doe' });
    const { reply, event } = await auditedCall(server, () => call(server, endpoint, { email: user.emailAddress, searchUnsynched: false }));
    assert.equal(reply.status, 200, reply.text);
    assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
    const body = reply.json as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), USER_KEYS);
    assertTimestamp(body.creationDate, 'creationDate');
    assertWire(body, {
      id: user.id, emailAddress: user.emailAddress, firstName: 'Jane', lastName: 'Doe', creationDate: body.creationDate,
      identitySource: user.identitySource, userStatus: 'Enabled', markDeleted: false, markDeletedAt: null, markDeletedBy: null,
      lastSyncTime: null,
    });
    assertWire(body, await server.store.userById(user.id));
    assert.deepEqual(
      { operation: event.operation, outcome: event.outcome, status: event.status, target: event.target },
      { operation: 'users.lookup', outcome: 'unchanged', status: 200, target: { email: user.emailAddress } },
    );
    assert.deepEqual({ subject: event.subject, role: event.role }, caller(server));
  });

  test('a user without names answers null for them, never a missing key', async () => {
    const { server } = context;
    const user = await addUser(server, { firstName: null, lastName: null });
    const reply = await call(server, endpoint, { email: user.emailAddress });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(Object.keys(reply.json as object), USER_KEYS);
    assert.deepEqual([(reply.json as Record<string, unknown>).firstName, (reply.json as Record<string, unknown>).lastName], [null, null]);
  });

  test('matching ignores case; the address is answered as it is stored', async () => {
    const { server } = context;
    const n = fresh();
    const user = await addUser(server, { email: `Mixed.Case${n}@Example.com` });
    for (const email of [`mixed.case${n}@example.com`, `MIXED.CASE${n}@EXAMPLE.COM`]) {
      const reply = await call(server, endpoint, { email });
      assert.equal(reply.status, 200, `${email}: ${reply.text}`);
      assert.deepEqual([(reply.json as { id: string }).id, (reply.json as { emailAddress: string }).emailAddress], [user.id, user.emailAddress]);
    }
  });

  test('searchUnsynched changes nothing in the answer: this directory has no unsynchronized users', async () => {
    const { server } = context;
    const user = await addUser(server);
    const replies = await Promise.all([undefined, true, false].map((s) => call(server, endpoint, { email: user.emailAddress, ...(s === undefined ? {} : { searchUnsynched: s }) })));
    for (const r of replies) assert.equal(r.status, 200, r.text);
    assert.deepEqual(new Set(replies.map((r) => r.text)).size, 1);
  });

  test('an address longer than 36 characters is found (the 36-character rule is for identifiers)', async () => {
    const { server } = context;
    const user = await addUser(server, { email: `${'long'.repeat(15)}.${fresh()}@example.com` });
    assert.ok(user.emailAddress!.length > 36);
    const reply = await call(server, endpoint, { email: user.emailAddress });
    assert.equal(reply.status, 200, reply.text);
    assert.equal((reply.json as { id: string }).id, user.id);
  });
});

describe('POST /v1/users/lookup: 404 `User <email> not found`', () => {
  test('an unknown address, named as it was sent', async () => {
    const { server } = context;
    const email = `Nobody${fresh()}@Example.com`;
    await expectRefused(server, endpoint, { email }, () => call(server, endpoint, { email }), {
      status: 404, outcome: 'not_found', body: errors.userNotFound(email), by: caller(server),
    });
  });

  test('a user id is not an e-mail address', async () => {
    const { server } = context;
    const user = await addUser(server);
    await expectRefused(server, endpoint, { email: user.emailAddress, userId: user.id }, () => call(server, endpoint, { email: user.id }), {
      status: 404, outcome: 'not_found', body: errors.userNotFound(user.id), by: caller(server),
    });
  });
});

const setup: Setup = async (server) => ({ email: (await addUser(server)).emailAddress, searchUnsynched: false });
describeBadBodies(context, endpoint, setup);
describeRoles(context, endpoint, setup, async (server, reply, _role, body) => {
  assertWire(reply.json, await server.store.userByEmail(body.email as string));
});
