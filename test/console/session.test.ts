/**
 * The console's sign-in over real HTTP, with a software authenticator: enrolment from a one-time
 * link, WebAuthn sign-in, the session cookie and its timeouts, Origin and CSRF checks, rate
 * limits, revocation, sign-out, and the audit events of each.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { INVITE_LIFETIME_MS, SESSION_ABSOLUTE_MS, SESSION_IDLE_MS, SESSION_TOUCH_MS, makeAdminService } from '../../src/auth/admins.ts';
import { manualClock } from '../../src/domain/clock.ts';
import type { StoredAuditEvent } from '../../src/domain/types.ts';
import { sessionCookie } from '../../src/http/console/session.ts';
import { consoleClient, invite, operator, signedInAs } from '../support/console.ts';
import { startServer, type TestServer } from '../support/server.ts';

async function events(server: TestServer, operation: string): Promise<StoredAuditEvent[]> {
  await server.store.flush();
  return (await server.store.audit()).filter((e) => e.operation === operation);
}

describe('enrolment and sign-in', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ publicHost: 'localhost', console: { assets: '/nonexistent' } });
  });
  after(() => server.close());

  test('an invite link enrols a passkey once, signs the administrator in, and is audited', async () => {
    const link = await invite(server, 'Ann@Example.com', 'HelpDeskAdmin');
    assert.match(link, new RegExp(`^${server.url}/console/#/enrol/[A-Za-z0-9_-]{43}$`));
    const ann = consoleClient(server);
    const enrolled = await ann.enrol(link);
    assert.equal(enrolled.status, 200, enrolled.text);
    const cookie = enrolled.headers.getSetCookie().join('\n');
    assert.match(cookie, /^ds100_console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    assert.doesNotMatch(cookie, /Secure/, 'no Secure attribute over plain http');

    const session = await ann.call('GET', '/session');
    assert.equal(session.status, 200);
    assert.deepEqual((session.json as { admin: unknown }).admin, { id: (enrolled.json as { admin: { id: string } }).admin.id, email: 'Ann@Example.com', role: 'HelpDeskAdmin' });

    // Single use: the same link again, from another browser, is refused and registers nothing.
    const again = await consoleClient(server).enrol(link);
    assert.equal(again.status, 410);
    assert.equal((again.json as { code: string }).code, '410 GONE');
    const admin = (await server.store.adminByEmail('ann@example.com'))!;
    assert.equal((await server.store.passkeysOfAdmin(admin.id)).length, 1);

    for (const operation of ['admin.invite', 'admin.enrol']) {
      const [e] = await events(server, operation);
      assert.equal(e?.outcome, 'changed', operation);
      assert.equal(e?.target.adminId, admin.id, operation);
    }
    const [signin] = await events(server, 'console.signin');
    assert.equal(signin?.subject, admin.id);
    assert.equal(signin?.role, 'HelpDeskAdmin');
    assert.equal(signin?.outcome, 'changed');
  });

  test('neither the link nor the cookie is stored in clear', async () => {
    const link = await invite(server, 'secrets@example.com', 'ReadOnly');
    const client = consoleClient(server);
    assert.equal((await client.enrol(link)).status, 200);
    const token = link.split('/enrol/')[1]!;
    const dump = JSON.stringify(await Promise.all([server.store.admins(), server.store.audit()]));
    assert.ok(!dump.includes(token) && !dump.includes(client.session!), 'secrets absent from admins and the audit trail');
    assert.equal(await server.store.consoleSession(client.session!), null, 'the session is kept under its hash');
  });

  test('a passkey signs in again: a new session id, the old one ended; the e-mail address names its credentials', async () => {
    const bo = await signedInAs(server, 'bo@example.com', 'SuperAdmin');
    const first = bo.session!;
    const signedIn = await bo.signIn();
    assert.equal(signedIn.status, 200, signedIn.text);
    assert.notEqual(bo.session, first, 'rotated at sign-in');
    assert.equal((await bo.call('GET', '/session', undefined, { cookie: first })).status, 401, 'the session before sign-in is over');
    assert.equal((await bo.call('GET', '/session')).status, 200);

    const options = await bo.call('POST', '/signin/options', { email: 'BO@example.com' });
    const allowed = (options.json as { publicKey: { allowCredentials: Array<{ id: string }> } }).publicKey.allowCredentials;
    assert.deepEqual(allowed.map((c) => c.id), [bo.authenticator.held[0]!.id.toString('base64url')]);
    const unknown = await bo.call('POST', '/signin/options', { email: 'nobody@example.com' });
    assert.deepEqual((unknown.json as { publicKey: { allowCredentials: unknown[] } }).publicKey.allowCredentials, [], 'no hint who exists');
  });

  test('a refused assertion opens no session and is audited as a failure', async () => {
    const cy = await signedInAs(server, 'cy@example.com', 'HelpDeskAdmin');
    const admin = (await server.store.adminByEmail('cy@example.com'))!;
    const before = (await events(server, 'console.signin')).length;

    // User verification is required: an authenticator that only saw a touch is refused.
    const options = await cy.call('POST', '/signin/options', {});
    const unverified = cy.authenticator.get((options.json as { publicKey: { challenge: string } }).publicKey, { userVerified: false });
    const refused = await cy.call('POST', '/signin', { credential: unverified }, { cookie: null });
    assert.equal(refused.status, 401);
    assert.equal((refused.json as { description: string }).description, 'The passkey or security key was not accepted.');
    assert.equal(refused.headers.getSetCookie().length, 0);

    // A challenge serves once: the same (valid) answer twice opens one session.
    const fresh = await cy.call('POST', '/signin/options', {});
    const assertion = cy.authenticator.get((fresh.json as { publicKey: { challenge: string } }).publicKey);
    assert.equal((await cy.call('POST', '/signin', { credential: assertion })).status, 200);
    assert.equal((await cy.call('POST', '/signin', { credential: assertion })).status, 401, 'replayed');

    const after = (await events(server, 'console.signin')).slice(before);
    assert.deepEqual(after.map((e) => [e.outcome, e.status, e.subject]), [
      ['denied', 401, admin.id],
      ['changed', 200, admin.id],
      ['denied', 401, admin.id],
    ]);
  });

  test('an enrolment for another origin is refused and the link still works', async () => {
    const link = await invite(server, 'dee@example.com', 'ReadOnly');
    const token = link.split('/enrol/')[1]!;
    const dee = consoleClient(server);
    const options = await dee.call('POST', '/enrol/options', { token });
    const forged = dee.authenticator.create((options.json as { publicKey: Parameters<typeof dee.authenticator.create>[0] }).publicKey, { origin: 'http://evil.example' });
    const refused = await dee.call('POST', '/enrol', { token, credential: forged });
    assert.equal(refused.status, 400, refused.text);
    assert.equal((await events(server, 'admin.enrol')).filter((e) => e.outcome === 'invalid').length, 1);
    assert.equal((await dee.enrol(link)).status, 200, 'the link is not used up by a refused attempt');
  });
});

describe('requests that change something', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ publicHost: 'localhost', console: { assets: '/nonexistent' } });
  });
  after(() => server.close());

  test('are refused from another origin, without an Origin, or without the CSRF token', async () => {
    const eve = await signedInAs(server, 'eve@example.com', 'SuperAdmin');
    const cases = [
      { o: { origin: 'http://evil.example' }, code: 'The request did not come from the console: its Origin is missing or foreign.' },
      { o: { origin: null }, code: 'The request did not come from the console: its Origin is missing or foreign.' },
      { o: { csrf: null }, code: 'The request lacks the CSRF token of its session.' },
      { o: { csrf: 'x'.repeat(43) }, code: 'The request lacks the CSRF token of its session.' },
    ];
    for (const { o, code } of cases) {
      const r = await eve.call('POST', '/signout', undefined, o);
      assert.equal(r.status, 403, JSON.stringify(o));
      assert.equal((r.json as { description: string }).description, code);
    }
    // A token of another session does not do either.
    const other = await signedInAs(server, 'other@example.com', 'SuperAdmin');
    assert.equal((await eve.call('POST', '/signout', undefined, { csrf: other.csrf! })).status, 403);
    assert.equal((await eve.call('GET', '/session')).status, 200, 'none of them ended the session');
    assert.equal((await events(server, 'console.signout')).length, 0);
  });

  test('sign-out ends the session, clears the cookie, and is audited', async () => {
    const fay = await signedInAs(server, 'fay@example.com', 'ReadOnly');
    const session = fay.session!;
    const out = await fay.call('POST', '/signout');
    assert.equal(out.status, 200);
    assert.match(out.headers.getSetCookie()[0]!, /^ds100_console=; .*Max-Age=0/);
    assert.equal((await fay.call('GET', '/session', undefined, { cookie: session })).status, 401);
    const [e] = await events(server, 'console.signout');
    assert.equal(e?.subject, (await server.store.adminByEmail('fay@example.com'))!.id);
  });

  test("revoking an administrator ends their open session at once; they can sign in no more", async () => {
    const gus = await signedInAs(server, 'gus@example.com', 'HelpDeskAdmin');
    assert.equal((await gus.call('GET', '/session')).status, 200);
    await makeAdminService({ store: server.store, clock: { now: Date.now, nowIso: () => new Date().toISOString() }, publicUrl: () => server.url }).revoke(operator, 'gus@example.com');
    const refused = await gus.call('GET', '/session');
    assert.equal(refused.status, 401);
    assert.equal((refused.json as { code: string }).code, '401 UNAUTHORIZED');
    assert.equal((await gus.signIn()).status, 401);
    const [e] = await events(server, 'admin.revoke');
    assert.equal(e?.outcome, 'changed');
  });
});

describe('session lifetime', () => {
  const start = Date.parse('2030-01-01T08:00:00.000Z');
  const clock = manualClock(start);
  let server: TestServer;
  before(async () => {
    server = await startServer({ publicHost: 'localhost', clock, console: { assets: '/nonexistent' } });
  });
  after(() => server.close());

  test(`ends after ${SESSION_IDLE_MS / 60_000} minutes unused`, async () => {
    const hal = await signedInAs(server, 'hal@example.com', 'ReadOnly', clock);
    clock.advance(SESSION_IDLE_MS - SESSION_TOUCH_MS - 1);
    assert.equal((await hal.call('GET', '/session')).status, 200, 'just within');
    clock.advance(SESSION_IDLE_MS - 1);
    assert.equal((await hal.call('GET', '/session')).status, 200, 'the last use restarted the wait');
    clock.advance(SESSION_IDLE_MS);
    const over = await hal.call('GET', '/session');
    assert.equal(over.status, 401);
    assert.match(over.headers.getSetCookie()[0] ?? '', /Max-Age=0/, 'the cookie is cleared');
  });

  test(`ends ${SESSION_ABSOLUTE_MS / 3600_000} hours after sign-in, however busy`, async () => {
    const ida = await signedInAs(server, 'ida@example.com', 'ReadOnly', clock);
    for (let t = 0; t + 10 * 60_000 < SESSION_ABSOLUTE_MS; t += 10 * 60_000) {
      clock.advance(10 * 60_000);
      assert.equal((await ida.call('GET', '/session')).status, 200, `at ${t / 60_000 + 10} min`);
    }
    clock.advance(10 * 60_000);
    assert.equal((await ida.call('GET', '/session')).status, 401);
  });

  test(`an invite link expires after ${INVITE_LIFETIME_MS / 3600_000} hours`, async () => {
    const link = await invite(server, 'jo@example.com', 'ReadOnly', clock);
    clock.advance(INVITE_LIFETIME_MS);
    assert.equal((await consoleClient(server).enrol(link)).status, 410);
  });
});

describe('sign-in attempts are rate-limited', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      publicHost: 'localhost',
      trustProxy: 1,
      console: {
        assets: '/nonexistent',
        signInLimits: { perAddress: { capacity: 6, windowSeconds: 3600 }, perAccount: { capacity: 2, windowSeconds: 3600 } },
      },
    });
  });
  after(() => server.close());

  test('per address and per account, each refusal audited', async () => {
    const kim = await signedInAs(server, 'kim@example.com', 'ReadOnly'); // 2 calls from 127.0.0.1
    const from = (address: string) => ({ headers: { 'x-forwarded-for': address } });
    // The account: two sign-ins from two addresses, the third refused wherever it comes from.
    assert.equal((await kim.signIn(undefined, from('10.0.0.1'))).status, 200);
    assert.equal((await kim.signIn(undefined, from('10.0.0.2'))).status, 200);
    const third = await kim.signIn(undefined, from('10.0.0.3'));
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers.get('retry-after')) > 0);
    // The address: its six calls spent (two ceremonies and a half), the next is refused.
    const lee = consoleClient(server);
    for (let i = 0; i < 6; i++) assert.notEqual((await lee.call('POST', '/signin/options', {}, from('10.0.0.9'))).status, 429, `call ${i}`);
    assert.equal((await lee.call('POST', '/signin/options', {}, from('10.0.0.9'))).status, 429);
    const limited = (await events(server, 'console.signin')).filter((e) => e.outcome === 'rate_limited');
    assert.deepEqual(limited.map((e) => e.clientAddress), ['10.0.0.3', '10.0.0.9']);
    const account = (await server.store.adminByEmail('kim@example.com'))!;
    assert.equal(limited[0]!.subject, account.id);
    // Named as the administrator, as a failed sign-in is: with the role, not as a command-line operator.
    assert.deepEqual([limited[0]!.kind, limited[0]!.role], ['administrator', 'ReadOnly']);
    assert.equal(limited[1]!.kind, 'unauthenticated');
  });
});

describe('the admin log export shows console sign-ins, their failures and sign-outs', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ publicHost: 'localhost', console: { assets: '/nonexistent' } });
  });
  after(() => server.close());

  test('as SIGNIN_SUCCESS, SIGNIN_FAILURE and SIGNOUT, the vendor\'s keys, through GET .../adminlog/exportlogs', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const vic = await signedInAs(server, 'vic@example.com', 'HelpDeskAdmin'); // enrolment signs in
    const admin = (await server.store.adminByEmail('vic@example.com'))!;
    assert.equal((await vic.call('POST', '/signout')).status, 200);
    // A credential no administrator has, then Vic's own passkey without user verification.
    const options = await vic.call('POST', '/signin/options', {});
    const good = vic.authenticator.get((options.json as { publicKey: { challenge: string } }).publicKey);
    assert.equal((await vic.call('POST', '/signin', { credential: { ...good, id: 'AAAA', rawId: 'AAAA' } })).status, 401);
    const again = await vic.call('POST', '/signin/options', {});
    const unverified = vic.authenticator.get((again.json as { publicKey: { challenge: string } }).publicKey, { userVerified: false });
    assert.equal((await vic.call('POST', '/signin', { credential: unverified })).status, 401);
    assert.equal((await vic.signIn()).status, 200);
    await server.store.flush();

    const query = `startTimeAfter=${encodeURIComponent(since)}&endTimeOnOrBefore=${encodeURIComponent(new Date().toISOString())}`;
    const reply = await server.request('GET', `/v1/adminlog/exportlogs?${query}`, undefined, { role: 'ReadOnly' });
    assert.equal(reply.status, 200, reply.text);
    const elements = (reply.json as { elements: Array<Record<string, unknown>> }).elements.filter((e) => /^SIGN/.test(String(e.activityKey)));
    const pick = ['activityKey', 'activityCode', 'result', 'reasonKey', 'adminUserName', 'adminUserRole', 'sourceIPAddress', 'targetObject1Name', 'message'];
    const role = 'Help Desk Administrator';
    assert.deepEqual(elements.map((e) => Object.fromEntries(pick.map((k) => [k, e[k]]))), [
      { activityKey: 'SIGNIN_SUCCESS', activityCode: 80001, result: 'SUCCESS', reasonKey: '', adminUserName: admin.id, adminUserRole: role, sourceIPAddress: '127.0.0.1', targetObject1Name: 'vic@example.com', message: `Administrator ${admin.id} signed in to the console.` },
      { activityKey: 'SIGNOUT', activityCode: 80003, result: 'SUCCESS', reasonKey: '', adminUserName: admin.id, adminUserRole: role, sourceIPAddress: '127.0.0.1', targetObject1Name: null, message: `Administrator ${admin.id} signed out of the console.` },
      { activityKey: 'SIGNIN_FAILURE', activityCode: 80002, result: 'FAIL', reasonKey: 'ACCESS_DENIED', adminUserName: null, adminUserRole: 'Unauthenticated', sourceIPAddress: '127.0.0.1', targetObject1Name: null, message: 'An unauthenticated caller failed to sign in to the console: the passkey or security key was not accepted.' },
      { activityKey: 'SIGNIN_FAILURE', activityCode: 80002, result: 'FAIL', reasonKey: 'ACCESS_DENIED', adminUserName: admin.id, adminUserRole: role, sourceIPAddress: '127.0.0.1', targetObject1Name: 'vic@example.com', message: `Administrator ${admin.id} failed to sign in to the console: the passkey or security key was not accepted.` },
      { activityKey: 'SIGNIN_SUCCESS', activityCode: 80001, result: 'SUCCESS', reasonKey: '', adminUserName: admin.id, adminUserRole: role, sourceIPAddress: '127.0.0.1', targetObject1Name: 'vic@example.com', message: `Administrator ${admin.id} signed in to the console.` },
    ]);
  });
});

test('behind TLS the cookie is Secure and host-only (__Host- prefix)', () => {
  const headers: string[] = [];
  const reply = { header: (_name: string, value: string) => headers.push(value) } as unknown as Parameters<ReturnType<typeof sessionCookie>['set']>[0];
  sessionCookie(() => 'https://admin.example.com').set(reply, 'x'.repeat(43));
  sessionCookie(() => 'http://localhost:8080').set(reply, 'y'.repeat(43));
  assert.deepEqual(headers, [
    `__Host-ds100_console=${'x'.repeat(43)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure`,
    `ds100_console=${'y'.repeat(43)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800`,
  ]);
});
