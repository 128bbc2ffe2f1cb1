/**
 * Contract 11: the event log exports, parameter by parameter, on the engine TEST_STORE names.
 * Every event is made by a real call over HTTP (or by the directory, as the command line makes
 * them), and read back through the two export endpoints.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ENDPOINTS, assertWire } from './wire.ts';
import { bodyFor, call, lastSeq, newCredential, useServer } from './setup.ts';
import type { Reply, TestServer } from '../support/server.ts';
import type { Role } from '../../src/domain/types.ts';

const ADMIN = '/v1/adminlog/exportlogs';
const USER = '/v1/usereventlog/exportlogs';

/** Every key of an admin log element, in the order the Sentinel connector's schema lists them [field]. */
const ADMIN_KEYS = [
  'eventId', 'eventLogDate', 'eventType', 'serverURL', 'serverIPAddress', 'application', 'customerId', 'customerName',
  'sourceIPAddress', 'adminUserName', 'adminUserRole', 'activityKey', 'activityCode', 'result', 'reasonKey', 'message',
  'requiresPublish', 'targetObject1Id', 'targetObject1Name', 'targetObject1Type', 'targetObject2Id', 'targetObject2Name',
  'targetObject2Type',
];
const USER_KEYS = [
  'eventId', 'eventLogDate', 'eventType', 'customerId', 'customerName', 'userId', 'userEmailAddress', 'deviceSerialNumber',
  'tokenSerialNumber', 'activityKey', 'activityCode', 'result', 'reasonKey', 'message',
];

interface AdminPage {
  totalPages: number;
  totalElements: number;
  pageSize: number;
  currentPage: number;
  elements: Array<Record<string, unknown> & { eventId: number; eventLogDate: string }>;
}
interface UserPage extends Omit<AdminPage, 'elements'> {
  userEventLogExportEntries: Array<Record<string, unknown> & { eventId: number; eventLogDate: string }>;
}

/** A query string from `params`, each value percent-encoded as a careful client does. */
const qs = (params: Record<string, string | number>): string =>
  Object.keys(params).length === 0 ? '' : `?${Object.entries(params).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&')}`;

const exportCall = (server: TestServer, path: string, query = '', role: Role = 'ReadOnly'): Promise<Reply> =>
  server.request('GET', `${path}${query}`, undefined, { role });

async function adminPage(server: TestServer, params: Record<string, string | number>, path = ADMIN): Promise<AdminPage> {
  const reply = await exportCall(server, path, qs(params));
  assert.equal(reply.status, 200, reply.text);
  return reply.json as AdminPage;
}

/** The admin log events of a window, every page read until an empty one. */
async function collect(server: TestServer, window: { startTimeAfter: string; endTimeOnOrBefore: string }, pageSize = 100) {
  const events: AdminPage['elements'] = [];
  for (let pageNumber = 0; ; pageNumber++) {
    const page = await adminPage(server, { ...window, pageNumber, pageSize });
    if (page.elements.length === 0) return events;
    events.push(...page.elements);
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The admin log element of the event a call left: found by its id in the trail. */
async function elementOf(server: TestServer, reply: Reply) {
  await server.store.flush();
  const requestId = reply.headers.get('x-request-id');
  const event = (await server.store.audit()).find((e) => e.requestId === requestId);
  assert.ok(event, 'the call left an audit event');
  const t = Date.parse(event.loggedAt);
  const page = await adminPage(server, { startTimeAfter: iso(t - 1), endTimeOnOrBefore: iso(t) });
  const element = page.elements.find((e) => e.eventId === event.seq);
  assert.ok(element, `event ${event.seq} is in the log: ${JSON.stringify(page)}`);
  return { element, event };
}

describe('event log export (contract 11)', () => {
  const ctx = useServer();

  test('both endpoints answer at both spellings, with the page shape and every key of an element', async () => {
    const credential = await newCredential(ctx.server);
    await call(ctx.server, ENDPOINTS.enable, bodyFor(ENDPOINTS.enable, credential));
    for (const path of [ADMIN, '/v1/adminlog/exportLogs']) {
      const reply = await exportCall(ctx.server, path);
      assert.equal(reply.status, 200, reply.text);
      const body = reply.json as AdminPage;
      assert.deepEqual(Object.keys(body), ['totalPages', 'totalElements', 'pageSize', 'currentPage', 'elements']);
      assert.equal(body.pageSize, 100);
      assert.equal(body.currentPage, 0);
      assert.ok(body.elements.length > 0);
      for (const e of body.elements) assert.deepEqual(Object.keys(e), ADMIN_KEYS);
    }
    for (const path of [USER, '/v1/usereventlog/exportLogs']) {
      const reply = await exportCall(ctx.server, path);
      assert.equal(reply.status, 200, reply.text);
      const body = reply.json as UserPage;
      assert.deepEqual(Object.keys(body), ['totalPages', 'totalElements', 'pageSize', 'currentPage', 'userEventLogExportEntries']);
      assert.ok(body.userEventLogExportEntries.length > 0);
      for (const e of body.userEventLogExportEntries) assert.deepEqual(Object.keys(e), USER_KEYS);
    }
  });

  test('an enable: its activity, result, admin, role, address, targets and a sentence', async () => {
    const credential = await newCredential(ctx.server);
    const reply = await call(ctx.server, ENDPOINTS.enable, bodyFor(ENDPOINTS.enable, credential));
    assert.equal(reply.status, 200);
    const { element, event } = await elementOf(ctx.server, reply);
    assertWire(element, {
      eventId: event.seq,
      eventLogDate: event.loggedAt,
      eventType: 'Administration',
      serverURL: `${ctx.server.url}/AdminInterface/`,
      serverIPAddress: '127.0.0.1',
      application: 'ds100-admin',
      customerId: 1,
      customerName: 'ds100-admin',
      sourceIPAddress: '127.0.0.1',
      adminUserName: ctx.server.keys.HelpDeskAdmin.keyFile.accessID,
      adminUserRole: 'Help Desk Administrator',
      activityKey: 'DS100_OTP_ENABLE_UNCHANGED',
      activityCode: 91101,
      result: 'SUCCESS',
      reasonKey: '',
      message: `Administrator ${ctx.server.keys.HelpDeskAdmin.keyFile.accessID} asked to enable the OTP credentials of DS100 ${credential.deviceSerialNumber} for user ${credential.userId}; nothing needed to change.`,
      requiresPublish: false,
      targetObject1Id: credential.userId,
      targetObject1Name: null,
      targetObject1Type: 'User',
      targetObject2Id: credential.deviceSerialNumber,
      targetObject2Name: null,
      targetObject2Type: 'DS100',
    });
    assert.ok(Number.isSafeInteger(element.eventId) && element.eventId > 0, 'eventId below 2^53');
    assert.match(element.eventLogDate, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test('a disable that changed, a refusal by role and a 404: one key and code per operation and outcome', async () => {
    const credential = await newCredential(ctx.server);
    const disabled = await call(ctx.server, ENDPOINTS.disable, bodyFor(ENDPOINTS.disable, credential));
    const refused = await call(ctx.server, ENDPOINTS.disable, bodyFor(ENDPOINTS.disable, credential), { role: 'ReadOnly' });
    const missing = await call(ctx.server, ENDPOINTS.disable, { deviceSerialNumber: '1', userId: credential.userId });
    assert.deepEqual([disabled.status, refused.status, missing.status], [200, 403, 404]);
    const [d, r, m] = await Promise.all([disabled, refused, missing].map(async (reply) => (await elementOf(ctx.server, reply)).element));
    assert.deepEqual(
      [d, r, m].map((e) => [e!.activityKey, e!.activityCode, e!.result, e!.reasonKey, e!.adminUserRole]),
      [
        ['DS100_OTP_DISABLE_SUCCESS', 91200, 'SUCCESS', '', 'Help Desk Administrator'],
        ['DS100_OTP_DISABLE_DENIED', 91204, 'FAIL', 'ACCESS_DENIED', 'Read Only Administrator'],
        ['DS100_OTP_DISABLE_NOT_FOUND', 91202, 'FAIL', 'NOT_FOUND', 'Help Desk Administrator'],
      ],
    );
    assert.match(String(d!.message), /^Administrator \S+ disabled the OTP credentials of DS100 \d+ for user \S+\.$/);
  });

  test('startTimeAfter is exclusive and endTimeOnOrBefore inclusive, to the millisecond', async () => {
    const credential = await newCredential(ctx.server);
    const reply = await call(ctx.server, ENDPOINTS.disable, bodyFor(ENDPOINTS.disable, credential));
    const { event } = await elementOf(ctx.server, reply);
    const t = Date.parse(event.loggedAt);
    const ids = async (start: number, end: number) =>
      (await adminPage(ctx.server, { startTimeAfter: iso(start), endTimeOnOrBefore: iso(end) })).elements.map((e) => e.eventId);
    assert.ok((await ids(t - 1, t)).includes(event.seq), 'in (t-1, t]');
    assert.ok(!(await ids(t, t + 1)).includes(event.seq), 'not in (t, t+1]: the start is exclusive');
    assert.ok(!(await ids(t - 2, t - 1)).includes(event.seq), 'not in (t-2, t-1]');
  });

  test('every time form: Z, z, +05:30 sent as %2B05:30, -00:00, 0 to 9 fractional digits', async () => {
    const credential = await newCredential(ctx.server);
    const reply = await call(ctx.server, ENDPOINTS.disable, bodyFor(ENDPOINTS.disable, credential));
    const { event } = await elementOf(ctx.server, reply);
    const t = Date.parse(event.loggedAt);
    /** The same millisecond written each way a collector writes it. */
    const forms = (ms: number): string[] => {
      const second = iso(ms).slice(0, 19);
      const millis = iso(ms).slice(20, 23);
      const indian = iso(ms + 5.5 * 3_600_000).slice(0, 19);
      const trimmed = millis.replace(/0+$/, '');
      return [
        `${second}.${millis}Z`,
        `${second}.${millis}z`,
        `${indian}.${millis}+05:30`,
        `${second}.${millis}-00:00`,
        `${second}.${millis}000000Z`, // nine digits
        `${second}.${millis}9Z`, // four digits: cut to the millisecond
        trimmed ? `${second}.${trimmed}-00:00` : `${second}-00:00`, // trailing zeros left off, as syslog-ng does
      ];
    };
    const [before, at, after] = [forms(t - 1), forms(t), forms(t + 1)];
    for (let i = 0; i < at.length; i++) {
      const inside = await adminPage(ctx.server, { startTimeAfter: before[i]!, endTimeOnOrBefore: at[i]! });
      assert.ok(inside.elements.some((e) => e.eventId === event.seq), `(${before[i]}, ${at[i]}] holds it`);
      const later = await adminPage(ctx.server, { startTimeAfter: at[i]!, endTimeOnOrBefore: after[i]! });
      assert.ok(!later.elements.some((e) => e.eventId === event.seq), `(${at[i]}, ${after[i]}] does not`);
    }
    // No fraction at all: whole seconds around it.
    const whole = await adminPage(ctx.server, { startTimeAfter: `${iso(t - 1000).slice(0, 19)}Z`, endTimeOnOrBefore: `${iso(t + 1000).slice(0, 19)}-00:00` });
    assert.ok(whole.elements.some((e) => e.eventId === event.seq));
    // `.5` is 500 ms: a window from .5 to .500 is empty but not reversed; from .51 to .5 it is.
    const second = iso(t - 60_000).slice(0, 19);
    assert.equal((await exportCall(ctx.server, ADMIN, qs({ startTimeAfter: `${second}.5Z`, endTimeOnOrBefore: `${second}.500Z` }))).status, 200);
    assert.equal((await exportCall(ctx.server, ADMIN, qs({ startTimeAfter: `${second}.51Z`, endTimeOnOrBefore: `${second}.5Z` }))).status, 400);
  });

  test("a '+' that arrived as a space is a 400 that says to encode it", async () => {
    const reply = await exportCall(ctx.server, ADMIN, '?startTimeAfter=2026-01-01T10:00:00+05:30');
    assert.equal(reply.status, 400);
    assertWire(reply.json, {
      code: '400 BAD_REQUEST',
      description: "Invalid value for query parameter 'startTimeAfter': the '+' of its offset arrived as a space; send it percent-encoded, as %2B.",
    });
    const encoded = await exportCall(ctx.server, ADMIN, '?startTimeAfter=2026-01-01T10:00:00%2B05:30');
    assert.equal(encoded.status, 200, encoded.text);
  });

  test('an unreadable time or page parameter is a 400 naming it; a start after the end is a 400', async () => {
    const cases: Array<[string, string]> = [
      ['?startTimeAfter=yesterday', 'startTimeAfter'],
      ['?startTimeAfter=2026-01-01T10:00:00', 'startTimeAfter'], // no offset
      ['?startTimeAfter=2026-02-30T10:00:00Z', 'startTimeAfter'],
      ['?startTimeAfter=2026-01-01T10:00:00.1234567890Z', 'startTimeAfter'], // ten digits
      ['?endTimeOnOrBefore=2026-01-01T25:00:00Z', 'endTimeOnOrBefore'],
      ['?endTimeOnOrBefore=1767261600', 'endTimeOnOrBefore'],
      ['?pageNumber=-1', 'pageNumber'],
      ['?pageNumber=one', 'pageNumber'],
      ['?pageNumber=1.5', 'pageNumber'],
      ['?pageSize=ten', 'pageSize'],
      ['?pageSize=1&pageSize=2', 'pageSize'],
    ];
    for (const [query, name] of cases) {
      const reply = await exportCall(ctx.server, ADMIN, query);
      assert.equal(reply.status, 400, `${query}: ${reply.text}`);
      assert.match((reply.json as { description: string }).description, new RegExp(`'${name}'`), query);
    }
    const reversed = await exportCall(ctx.server, USER, qs({ startTimeAfter: '2026-01-02T00:00:00Z', endTimeOnOrBefore: '2026-01-01T00:00:00Z' }));
    assert.equal(reversed.status, 400);
    assertWire(reversed.json, { code: '400 BAD_REQUEST', description: 'startTimeAfter must not be later than endTimeOnOrBefore.' });
    const ahead = await exportCall(ctx.server, ADMIN, qs({ endTimeOnOrBefore: iso(Date.now() + 3_600_000) }));
    assert.equal(ahead.status, 400);
    assert.match((ahead.json as { description: string }).description, /'endTimeOnOrBefore'.*ahead of the server's clock/);
  });

  test('pageSize: default 100, outside 1 to 100 taken as 100; a page past the end is a 200 with an empty array', async () => {
    for (const [size, expected] of [['5', 5], ['1', 1], ['100', 100], ['0', 100], ['101', 100], ['-3', 100], ['99999999999', 100]] as const) {
      const page = await adminPage(ctx.server, { pageSize: size });
      assert.equal(page.pageSize, expected, `pageSize=${size}`);
      assert.ok(page.elements.length <= expected);
    }
    const first = await adminPage(ctx.server, { pageSize: 1 });
    assert.ok(first.totalElements >= 2);
    assert.equal(first.totalPages, first.totalElements);
    const past = await adminPage(ctx.server, { pageSize: 1, pageNumber: first.totalPages });
    assert.deepEqual(past.elements, []);
    assert.equal(past.currentPage, first.totalPages);
    const far = await exportCall(ctx.server, USER, '?pageNumber=2147483647');
    assert.equal(far.status, 200);
    assert.deepEqual((far.json as UserPage).userEventLogExportEntries, []);
  });

  test('paging through a fixed window returns every event exactly once while new events are written', async () => {
    await lastSeq(ctx.server.store);
    const start = iso(Date.now() - 1);
    for (let i = 0; i < 12; i++) await newCredential(ctx.server);
    await ctx.server.store.flush();
    const end = iso(Date.now());
    // The writers below must begin after the window: one in the millisecond of its end would be in it.
    while (Date.now() <= Date.parse(end)) await sleep(1);
    const expected = (await ctx.server.store.audit()).filter((e) => e.loggedAt > start && e.loggedAt <= end && !e.operation.endsWith('.export'));
    const seen: number[] = [];
    for (let pageNumber = 0; ; pageNumber++) {
      // Writers go on between pages: their events fall after the window, never into a page.
      await newCredential(ctx.server);
      await call(ctx.server, ENDPOINTS.lookupDs100, { deviceSerialNumber: '1' });
      const page = await adminPage(ctx.server, { startTimeAfter: start, endTimeOnOrBefore: end, pageNumber, pageSize: 5 });
      if (page.elements.length === 0) break;
      seen.push(...page.elements.map((e) => e.eventId));
    }
    assert.deepEqual(seen, expected.map((e) => e.seq));
    assert.equal(new Set(seen).size, seen.length, 'no event twice');
  });

  test('roles: SuperAdmin and ReadOnly read both logs, HelpDeskAdmin may not; an export is audited but not in the log it reads', async () => {
    for (const path of [ADMIN, USER]) {
      assert.equal((await exportCall(ctx.server, path, '', 'SuperAdmin')).status, 200);
      assert.equal((await exportCall(ctx.server, path, '', 'ReadOnly')).status, 200);
      const refused = await exportCall(ctx.server, path, '', 'HelpDeskAdmin');
      assert.equal(refused.status, 403);
      assert.equal((refused.json as { message: string }).message, 'Not authorized to perform the request.');
    }
    const reply = await exportCall(ctx.server, ADMIN, '', 'SuperAdmin');
    await ctx.server.store.flush();
    const trail = await ctx.server.store.audit();
    const own = trail.find((e) => e.requestId === reply.headers.get('x-request-id'));
    assert.ok(own, 'the export left an event in the trail');
    assert.equal(own.operation, 'adminlog.export');
    assert.ok(trail.some((e) => e.operation === 'usereventlog.export'));
    const log = await collect(ctx.server, { startTimeAfter: iso(Date.now() - 3_600_000), endTimeOnOrBefore: iso(Date.now()) });
    const exports = new Set(trail.filter((e) => e.operation.endsWith('.export')).map((e) => e.seq));
    assert.ok(exports.size > 0);
    assert.ok(log.every((e) => !exports.has(e.eventId)), 'no export event in the admin log');
    assert.ok(log.some((e) => e.activityKey === 'DS100_OTP_DISABLE_DENIED'), 'the refusals are there');
  });

  test("the user event log: the changes to one user's credentials, from that user's side", async () => {
    const credential = await newCredential(ctx.server);
    const user = await ctx.server.store.userById(credential.userId);
    // After an earlier test's seal of a window ending ahead of the clock, stamps run ahead of it
    // and several events share one: the window is taken around the last stamp so far, and the
    // events of the registration and before are told apart by their number.
    await ctx.server.store.flush();
    const last = (await ctx.server.store.audit()).at(-1)!;
    const start = iso(Date.parse(last.loggedAt) - 1);
    await call(ctx.server, ENDPOINTS.disable, bodyFor(ENDPOINTS.disable, credential));
    await call(ctx.server, ENDPOINTS.lookupDs100, { deviceSerialNumber: credential.deviceSerialNumber });
    await call(ctx.server, ENDPOINTS.clearPin, bodyFor(ENDPOINTS.clearPin, credential));
    await ctx.server.store.flush();
    // An end of our own: after a seal ahead of the clock, the stamps may run ahead of `now` too.
    const end = iso(Math.max(Date.now(), Date.parse(start)) + 5000);
    const reply = await exportCall(ctx.server, USER, qs({ startTimeAfter: start, endTimeOnOrBefore: end }));
    assert.equal(reply.status, 200, reply.text);
    const entries = (reply.json as UserPage).userEventLogExportEntries.filter((e) => e.userId === credential.userId && e.eventId > last.seq);
    assert.deepEqual(
      entries.map((e) => ({ ...e, eventId: 0, eventLogDate: '' })),
      [
        {
          eventId: 0, eventLogDate: '', eventType: 'User', customerId: 1, customerName: 'ds100-admin', userId: credential.userId,
          userEmailAddress: user!.emailAddress, deviceSerialNumber: credential.deviceSerialNumber, tokenSerialNumber: null,
          activityKey: 'DS100_OTP_DISABLE_SUCCESS', activityCode: 91200, result: 'SUCCESS', reasonKey: '',
          message: `An administrator disabled the OTP credentials of your DS100 ${credential.deviceSerialNumber}.`,
        },
        {
          eventId: 0, eventLogDate: '', eventType: 'User', customerId: 1, customerName: 'ds100-admin', userId: credential.userId,
          userEmailAddress: user!.emailAddress, deviceSerialNumber: null, tokenSerialNumber: credential.tokenSerialNumber,
          activityKey: 'DS100_OTP_CLEAR_PIN_UNCHANGED', activityCode: 91401, result: 'SUCCESS', reasonKey: '',
          message: `An administrator's request left your OTP credential ${credential.tokenSerialNumber} as it was.`,
        },
      ],
      'the lookup (which names no user) is not there',
    );
  });
});
