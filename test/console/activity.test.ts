/**
 * The console's activity page over real HTTP, on the engine under test: the admin log through
 * the trail's one query, each filter (user by id or e-mail address, administrator by e-mail
 * address or id, activity key, time), newest first, a page at a time by keyset; each event as the
 * admin log shows it; the exports' own events left out; bad filters refused by name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AuditEvent } from '../../src/domain/types.ts';
import { ADMIN_LOG_PAGE_SIZE } from '../../src/domain/trail.ts';
import type { ActivityEvent } from '../../src/http/console/activity.ts';
import { signedInAs, type ConsoleClient } from '../support/console.ts';
import { startServer, type TestServer } from '../support/server.ts';

const JOHN = '87927fb7-e185-4c33-c7e3-8e077675973c';
const PAGING = 'key-paging';

interface Page {
  events: ActivityEvent[];
  newer: number | null;
  older: number | null;
}

const event = (operation: string, over: Partial<AuditEvent>): AuditEvent => ({
  at: '2020-05-01T00:00:00.000Z', kind: 'administrator', subject: PAGING, role: 'ReadOnly', clientAddress: '192.0.2.7', requestId: null,
  operation, target: {}, outcome: 'unchanged', status: 200, ...over,
});

describe('console: the activity page', () => {
  let server: TestServer;
  let rita: ConsoleClient;
  before(async () => {
    server = await startServer({ publicHost: 'localhost', demo: true, console: { assets: '/nonexistent' } });
    rita = await signedInAs(server, 'rita@example.com', 'ReadOnly');
    const n = ADMIN_LOG_PAGE_SIZE * 2 + 20;
    await server.store.transaction(async (tx) => {
      for (let i = 0; i < n; i++) {
        await tx.appendAudit(event('users.lookup', { at: `2020-05-01T00:00:00.${String(i).padStart(3, '0')}Z`, requestId: `p-${i}`, target: { email: `p${i}@example.com` } }));
      }
      // An export's own event is not in the admin log.
      await tx.appendAudit(event('adminlog.export', { at: '2020-05-01T00:00:01.000Z', requestId: 'export' }));
      await tx.appendAudit(event('ds100.disable', { at: '2020-06-01T00:00:00.000Z', subject: 'key-hd', role: 'HelpDeskAdmin', outcome: 'changed', target: { userId: JOHN, deviceSerialNumber: '140100080' } }));
      await tx.appendAudit(event('users.lookup', { at: '2020-06-02T00:00:00.000Z', subject: 'key-hd', role: 'HelpDeskAdmin', target: { email: 'John.Smith@Example.com' } }));
      await tx.appendAudit(event('console.signin', { at: '2020-06-03T00:00:00.000Z', subject: null, role: null, outcome: 'denied', status: 401 }));
    });
  });
  after(() => server.close());

  const page = async (params: Record<string, string | number>): Promise<Page> => {
    const r = await rita.call('GET', `/activity?${new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]))}`);
    assert.equal(r.status, 200, r.text);
    return r.json as Page;
  };
  const keys = (p: Page) => p.events.map((e) => e.activityKey);
  const emails = (p: Page) => p.events.map((e) => e.targets[0]?.name);
  const range = (from: number, to: number) => Array.from({ length: from - to + 1 }, (_, i) => `p${from - i}@example.com`);

  test('newest first, a page at a time, each event as the admin log shows it; the exports left out', async () => {
    const first = await page({ admin: PAGING });
    assert.deepEqual(emails(first), range(119, 70));
    assert.equal(first.newer, null);
    assert.notEqual(first.older, null);
    assert.deepEqual(first.events[0], {
      eventId: first.events[0]!.eventId,
      eventLogDate: first.events[0]!.eventLogDate,
      sourceIPAddress: '192.0.2.7',
      adminUserName: PAGING,
      adminUserRole: 'Read Only Administrator',
      activityKey: 'USER_LOOKUP_UNCHANGED',
      activityCode: 92101,
      result: 'SUCCESS',
      reasonKey: '',
      message: `Administrator ${PAGING} looked up user p119@example.com.`,
      at: '2020-05-01T00:00:00.119Z',
      adminName: PAGING,
      targets: [{ id: null, name: 'p119@example.com', type: 'User' }],
    });
    const second = await page({ admin: PAGING, before: first.older! });
    assert.deepEqual(emails(second), range(69, 20));
    assert.ok(second.newer !== null && second.older !== null);
    const third = await page({ admin: PAGING, before: second.older! });
    assert.deepEqual(emails(third), range(19, 0));
    assert.equal(third.older, null, 'the oldest page');
    assert.deepEqual(await page({ admin: PAGING, after: third.newer! }), second, 'back to newer');
    assert.deepEqual(await page({ admin: PAGING, after: second.newer! }), first);
    assert.ok(!keys(first).concat(keys(second), keys(third)).includes('ADMIN_LOG_EXPORT_UNCHANGED'));
  });

  test("a user by id or by e-mail address finds the events that name them either way", async () => {
    for (const user of [JOHN, 'john.smith@example.com', 'JOHN.SMITH@example.com']) {
      const found = await page({ user, to: '2020-12-31' });
      assert.deepEqual(keys(found), ['USER_LOOKUP_UNCHANGED', 'DS100_OTP_DISABLE_SUCCESS'], user);
      assert.equal(found.events[1]!.message, `Administrator key-hd disabled the OTP credentials of DS100 140100080 for user ${JOHN}.`);
      assert.deepEqual(found.events[1]!.targets, [{ id: JOHN, name: null, type: 'User' }, { id: '140100080', name: null, type: 'DS100' }]);
    }
    assert.deepEqual((await page({ user: 'nobody@example.com' })).events, []);
  });

  test('an activity key, an administrator by e-mail address, a time window', async () => {
    const failures = await page({ activity: 'SIGNIN_FAILURE', to: '2020-12-31' });
    assert.deepEqual(keys(failures), ['SIGNIN_FAILURE']);
    assert.equal(failures.events[0]!.message, 'An unauthenticated caller failed to sign in to the console: the passkey or security key was not accepted.');
    assert.deepEqual(keys(await page({ activity: 'DS100_OTP_DISABLE_SUCCESS', admin: 'key-hd' })), ['DS100_OTP_DISABLE_SUCCESS']);
    assert.deepEqual(keys(await page({ activity: 'DS100_OTP_DISABLE_UNCHANGED', admin: 'key-hd' })), []);

    const admin = (await server.store.adminByEmail('rita@example.com'))!;
    const own = await page({ admin: 'Rita@Example.com' });
    assert.ok(own.events.length > 0 && own.events.every((e) => e.adminUserName === admin.id && e.adminName === 'rita@example.com'), JSON.stringify(own.events));
    assert.ok(keys(own).includes('SIGNIN_SUCCESS'), 'her enrolment signed her in');

    assert.equal((await page({ admin: PAGING, from: '2020-05-01', to: '2020-05-01' })).events.length, ADMIN_LOG_PAGE_SIZE);
    assert.deepEqual(emails(await page({ admin: PAGING, from: '2020-05-01T00:00:00.005Z', to: '2020-05-01T00:00:00.007Z' })), range(7, 5));
    assert.deepEqual(emails(await page({ admin: PAGING, from: '2020-05-01T02:00:00.005+02:00', to: '2020-05-01T00:00:00.006Z' })), range(6, 5));
    assert.deepEqual((await page({ admin: PAGING, from: '2020-05-02' })).events, []);
  });

  test('a bad filter is refused by its name', async () => {
    for (const [query, name] of [
      ['activity=DS100_OTP_FLY_SUCCESS', 'activity'],
      ['activity=ADMIN_LOG_EXPORT_UNCHANGED', 'activity'],
      ['from=yesterday', 'from'],
      ['to=2020-02-30', 'to'],
      ['before=abc', 'before'],
      ['before=5&after=4', 'after'],
      [`user=${'x'.repeat(255)}`, 'user'],
      ['admin=a&admin=b', 'admin'],
    ] as const) {
      const r = await rita.call('GET', `/activity?${query}`);
      assert.equal(r.status, 400, `${query}: ${r.text}`);
      assert.match((r.json as { description: string }).description, new RegExp(`'${name}'`), query);
    }
  });

  test('the activity keys offered are the admin log\'s, by group', async () => {
    const r = await rita.call('GET', '/activity/keys');
    assert.equal(r.status, 200);
    const groups = (r.json as { groups: Array<{ group: string; keys: string[] }> }).groups;
    assert.deepEqual(groups[0], { group: 'Console', keys: ['SIGNIN_SUCCESS', 'SIGNIN_FAILURE', 'SIGNOUT'] });
    const all = groups.flatMap((g) => g.keys);
    assert.ok(all.includes('OAUTH_CLIENT_CREATE_SUCCESS') && all.includes('DS100_OTP_CLEAR_PIN_DENIED'));
    assert.ok(!all.some((k) => k.startsWith('ADMIN_LOG_EXPORT') || k.startsWith('USER_EVENT_LOG_EXPORT')), 'the exports are not in the admin log');
    assert.equal(new Set(all).size, all.length);
  });
});
