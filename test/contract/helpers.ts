/**
 * What the contract tests share: the contract itself restated from the spec (endpoints, their
 * properties, the wire's key orders and fixed messages), the vendor fixtures, a server per file,
 * directory set-up, and the two matrices every endpoint goes through (bad bodies and roles).
 *
 * The expected values here are written from the spec, not imported from src/: a test that takes
 * its expectation from the code under test cannot catch that code drifting from the contract.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../src/domain/clock.ts';
import { makeDirectoryService, type NewRegistration, type NewUser } from '../../src/domain/directory.ts';
import { ROLES, type Actor, type AuditOutcome, type Credential, type Role, type StoredAuditEvent, type User } from '../../src/domain/types.ts';
import type { Store } from '../../src/domain/store.ts';
import { API, startServer, type Reply, type RequestOptions, type StartOptions, type TestServer } from '../helpers/server.ts';

// ---------------------------------------------------------------------------------------------
// The contract, restated from docs/contract.md

export const repoRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface FixtureExample {
  name: string;
  method: string;
  path: string;
  request: Record<string, string>;
  status: number;
  response: unknown;
  seed: {
    users: Array<{ id: string }>;
    ds100: Array<{ userId: string; deviceSerialNumber: string; tokenSerialNumber: string; tokenStatus: string } & Record<string, unknown>>;
  };
  notes: string;
}

export interface Fixtures {
  basePath: string;
  examples: FixtureExample[];
  errorBodies: Record<'notFound' | 'badRequest' | 'internal' | 'forbidden', Record<string, unknown>>;
}

/** The vendor's published examples: the project's copy, kept as the vendor wrote them (test/fixtures/README.md). */
export const fixtures = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/doc-examples.json'), 'utf8')) as Fixtures;

type Property = { type: 'string'; maxLength: number; optional?: false } | { type: 'boolean'; optional: true };

export interface Endpoint {
  /** OpenAPI operationId, and the SDK's method name. */
  operationId: string;
  method: 'PATCH' | 'DELETE' | 'POST';
  /** Below `/AdminInterface/restapi`. */
  path: string;
  /** The audit trail's name for the call (spec 7). */
  operation: string;
  /** The roles that may call it (spec 3). */
  roles: readonly Role[];
  /** The body's properties, in the documented order. */
  properties: Record<string, Property>;
}

/** Spec 1: every property of the DS100 bodies is a non-empty string of at most 36 characters. */
const identifier: Property = { type: 'string', maxLength: 36 };
const WRITERS: readonly Role[] = ['SuperAdmin', 'HelpDeskAdmin'];

export const ENDPOINTS = {
  enable: {
    operationId: 'enableOtp', method: 'PATCH', path: '/v1/ds100/enable/otp', operation: 'ds100.enable', roles: WRITERS,
    properties: { deviceSerialNumber: identifier, userId: identifier },
  },
  disable: {
    operationId: 'disableOtp', method: 'PATCH', path: '/v1/ds100/disable/otp', operation: 'ds100.disable', roles: WRITERS,
    properties: { deviceSerialNumber: identifier, userId: identifier },
  },
  delete: {
    operationId: 'deleteOtp', method: 'DELETE', path: '/v1/ds100/delete/otp', operation: 'ds100.delete', roles: WRITERS,
    properties: { tokenSerialNumber: identifier, deviceSerialNumber: identifier, userId: identifier },
  },
  clearPin: {
    operationId: 'clearPin', method: 'PATCH', path: '/v1/ds100/clearPin/otp', operation: 'ds100.clearPin', roles: WRITERS,
    properties: { tokenSerialNumber: identifier, userId: identifier },
  },
  lookupDs100: {
    operationId: 'lookupDs100', method: 'POST', path: '/v1/ds100/lookup', operation: 'ds100.lookup', roles: ROLES,
    properties: { deviceSerialNumber: identifier },
  },
  // Spec 5. The 36-character rule is the DS100 bodies'; an e-mail address may be as long as
  // SMTP allows (254), which is the server's choice where the spec is silent.
  lookupUser: {
    operationId: 'lookupUser', method: 'POST', path: '/v1/users/lookup', operation: 'users.lookup', roles: ROLES,
    properties: { email: { type: 'string', maxLength: 254 }, searchUnsynched: { type: 'boolean', optional: true } },
  },
} as const satisfies Record<string, Endpoint>;

/** Spec 4.1: the keys of an enable/disable status item, in order. */
export const STATUS_ITEM_KEYS = [
  'userId', 'tokenSerialNumber', 'tokenStatus', 'tokenStatusChangedAt', 'tokenStatusChangedBy', 'deviceSerialNumber',
];
/** Spec 4.5: the documented order, then the fields the vendor's table leaves out. */
export const CREDENTIAL_KEYS = [
  'id', 'name', 'userId', 'deviceType', 'registeredDate', 'tokenSerialNumber', 'updatedAt', 'tokenState',
  'expiryDate', 'tokenStatus', 'tokenStatusReason', 'assignedAt', 'assignedBy',
  'pinSet', 'tokenStatusChangedAt', 'tokenStatusChangedBy', 'deviceSerialNumber',
];
/** Spec 5. */
export const USER_KEYS = [
  'id', 'emailAddress', 'firstName', 'lastName', 'creationDate', 'identitySource', 'userStatus', 'markDeleted',
  'markDeletedAt', 'markDeletedBy', 'lastSyncTime',
];
export const FORBIDDEN_KEYS = ['timestamp', 'status', 'error', 'message', 'path'];

/** The error bodies' texts: the spec's where it gives them, the server's catalog otherwise. */
export const errors = {
  wrongCount: { code: '400 BAD_REQUEST', description: 'Wrong number of properties in the request body.' },
  invalid: (name: string, rule: string) => ({ code: '400 BAD_REQUEST', description: `Invalid value for property '${name}': ${rule}.` }),
  notObject: { code: '400 BAD_REQUEST', description: 'The request body must be a JSON object.' },
  notJson: { code: '400 BAD_REQUEST', description: 'The request body is not valid JSON.' },
  contentType: { code: '400 BAD_REQUEST', description: 'The request body must be sent as application/json.' },
  tooLarge: { code: '413 PAYLOAD_TOO_LARGE', description: 'The request body is larger than 16384 bytes.' },
  userNotFound: (user: string) => ({ code: '404 NOT_FOUND', description: `User ${user} not found` }),
  deviceNotRegistered: (device: string, userId: string) => ({
    code: '404 NOT_FOUND', description: `DS100 ${device} is not registered to user ${userId}`,
  }),
  credentialNotFound: (token: string, userId: string) => ({
    code: '404 NOT_FOUND', description: `OTP credential ${token} not found for user ${userId}`,
  }),
  deviceHasNoOtp: (device: string) => ({ code: '404 NOT_FOUND', description: `No OTP credential found for DS100 ${device}` }),
  internal: { code: '500 INTERNAL_SERVER_ERROR', description: 'An internal error occurred.' },
  notAuthorized: 'Not authorized to perform the request.',
  tokenRefused: 'Server failed to process provided access token',
  // The three reasons a refused token is told, because the vendor's clients read them (spec 1).
  tokenExpired: 'Expired Access Token is not allowed',
  invalidAudience: 'Invalid audience',
  invalidAccessId: 'Invalid Access Id',
};

/** Spec 1: request bodies over 16 KiB are refused. */
export const BODY_LIMIT = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// Assertions on the wire

/** ISO 8601 UTC with milliseconds and `Z`, e.g. 2022-05-24T07:30:55.856Z. */
export function assertTimestamp(value: unknown, what = 'timestamp'): asserts value is string {
  assert.equal(typeof value, 'string', `${what} is a string`);
  assert.match(value as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, `${what} has the wire form`);
  assert.equal(new Date(value as string).toISOString(), value, `${what} is a real instant`);
}

/** A timestamp the server made for this request: between the moments it was sent and answered. */
export function assertFresh(value: unknown, sentAt: number, answeredAt: number, what = 'timestamp'): void {
  assertTimestamp(value, what);
  const t = Date.parse(value);
  assert.ok(t >= sentAt && t <= answeredAt, `${what} ${value} was made while the request ran`);
}

/** Equal values and, at every depth, keys in the same order (the wire's order matters). */
export function assertWire(actual: unknown, expected: unknown): void {
  assert.deepEqual(actual, expected);
  assert.equal(JSON.stringify(actual), JSON.stringify(expected), 'same keys in the same order');
}

/** The Spring-style 403 body (spec 1). */
export function assertForbidden(reply: Reply, message: string, path: string, sentAt: number, answeredAt: number): void {
  assert.equal(reply.status, 403, reply.text);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
  const body = reply.json as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), FORBIDDEN_KEYS);
  assert.deepEqual({ ...body, timestamp: 0 }, { timestamp: 0, status: 403, error: 'Forbidden', message, path });
  assert.ok(Number.isInteger(body.timestamp), 'timestamp is epoch milliseconds');
  assert.ok((body.timestamp as number) >= sentAt && (body.timestamp as number) <= answeredAt, 'timestamp is the time of the refusal');
}

// ---------------------------------------------------------------------------------------------
// A server per test file

export interface ServerContext {
  readonly server: TestServer;
}

/** Starts one server before the file's tests and closes it after them. */
export function useServer(options: StartOptions = {}): ServerContext {
  let server: TestServer | undefined;
  before(async () => {
    server = await startServer(options);
  });
  after(async () => {
    await server?.close();
  });
  return {
    get server(): TestServer {
      if (!server) throw new Error('the server is not started');
      return server;
    },
  };
}

/** Sends `body` to `endpoint` (options as the harness takes them). */
export function call(server: TestServer, endpoint: Endpoint, body?: unknown, options?: RequestOptions): Promise<Reply> {
  return server.request(endpoint.method, endpoint.path, body, options);
}

/** The call and the moments around it, for timestamps the server makes. */
export async function timed(send: () => Promise<Reply>): Promise<{ reply: Reply; sentAt: number; answeredAt: number }> {
  const sentAt = Date.now();
  const reply = await send();
  return { reply, sentAt, answeredAt: Date.now() };
}

// ---------------------------------------------------------------------------------------------
// The directory: users and DS100 registrations made for a test

const seeder: Actor = { subject: 'contract-test', role: null, clientAddress: 'local', requestId: null };
let sequence = 0;

/** A fresh number for names and serials, unique within the test process. */
export const fresh = (): number => ++sequence;

export function addUser(server: TestServer, input: Partial<NewUser> = {}): Promise<User> {
  const n = fresh();
  return makeDirectoryService({ store: server.store, clock: systemClock }).addUser(seeder, {
    email: `user${n}@example.com`,
    firstName: `First${n}`,
    lastName: `Last${n}`,
    ...input,
  });
}

export function register(server: TestServer, input: NewRegistration): Promise<Credential> {
  return makeDirectoryService({ store: server.store, clock: systemClock }).register(seeder, input);
}

/** A device serial of nine digits, like the vendor's, that no other test uses. */
export const freshDevice = (): string => String(700_000_000 + fresh());

/**
 * A new user (unless `userId` names one) holding a new DS100 (unless `deviceSerialNumber` names one) with one
 * OTP credential.
 */
export async function newCredential(
  server: TestServer,
  options: Partial<Omit<NewRegistration, 'user'>> & { userId?: string } = {},
): Promise<Credential> {
  const { userId, ...registration } = options;
  const user = userId ?? (await addUser(server)).id;
  return register(server, { deviceSerialNumber: freshDevice(), ...registration, user });
}

/** The body that names `credential` to a DS100 endpoint, properties in the documented order. */
export function bodyFor(endpoint: Endpoint, credential: Credential): Record<string, string> {
  return Object.fromEntries(Object.keys(endpoint.properties).map((k) => [k, String(credential[k as keyof Credential])]));
}

/** User ids the vendor's clients send that are not RFC 4122 UUIDs, and must be taken as they are (spec 1). */
export const oddUserIds = (): string[] => {
  const n = String(fresh()).padStart(4, '0');
  return [`ece30fe9-414c-7536-5403-0656220b${n}`, `CDDEDCEC-4444-5555-6666-06E3F899${n}`, `user-${n}`, `${n}`.padEnd(36, 'u')];
};

// ---------------------------------------------------------------------------------------------
// Audit trail and store state

const seqOf = (trail: StoredAuditEvent[]): number => trail.at(-1)?.seq ?? 0;

/** Audit events after `afterSeq`, once the event of `reply`'s request is committed. */
export async function eventsSince(store: Store, afterSeq: number, reply: Reply): Promise<StoredAuditEvent[]> {
  const requestId = reply.headers.get('x-request-id');
  let events: StoredAuditEvent[] = [];
  // The event of a call that changed nothing is written after the answer (spec 7 lets a read
  // answer without waiting for a disk flush): wait for it, by turns of the event loop, not time.
  for (let turn = 0; turn < 1000; turn++) {
    await store.flush();
    events = (await store.audit()).filter((e) => e.seq > afterSeq);
    if (events.some((e) => e.requestId === requestId)) break;
    await nextTurn();
  }
  return events;
}

export async function lastSeq(store: Store): Promise<number> {
  await store.flush();
  return seqOf(await store.audit());
}

/**
 * The one audit event of the call `send` makes (fails if the call left none or more than one),
 * and the moments the call was sent and answered.
 */
export async function auditedCall(
  server: TestServer,
  send: () => Promise<Reply>,
): Promise<{ reply: Reply; event: StoredAuditEvent; sentAt: number; answeredAt: number }> {
  const since = await lastSeq(server.store);
  const { reply, sentAt, answeredAt } = await timed(send);
  const events = await eventsSince(server.store, since, reply);
  assert.equal(events.length, 1, `exactly one audit event: ${JSON.stringify(events)}`);
  const event = events[0]!;
  assert.equal(event.requestId, reply.headers.get('x-request-id'), 'the event names the request');
  assert.equal(event.clientAddress, '127.0.0.1', 'the event names the client address');
  assertTimestamp(event.at, 'the event time');
  return { reply, event, sentAt, answeredAt };
}

const text = (body: Record<string, unknown>, key: string): string | null => (typeof body[key] === 'string' ? (body[key] as string) : null);

/** Everything in the store that the identifiers of `body` reach, plus the keys: what a refused call must leave alone. */
export async function stateOf(store: Store, body: Record<string, unknown>): Promise<unknown> {
  const userId = text(body, 'userId');
  const email = text(body, 'email');
  const device = text(body, 'deviceSerialNumber');
  const token = text(body, 'tokenSerialNumber');
  const user = userId ? await store.userById(userId) : null;
  return {
    user,
    userByEmail: email ? await store.userByEmail(email) : null,
    device: device ? await store.credentialsByDevice(device) : [],
    userDevice: userId && device ? await store.credentialsOfUserDevice(userId, device) : [],
    token: token ? await store.credentialByTokenSerial(token) : null,
    keys: await store.apiKeys(),
  };
}

export interface Refusal {
  status: 400 | 403 | 404 | 413;
  outcome: Extract<AuditOutcome, 'invalid' | 'denied' | 'not_found'>;
  /** The exact body expected (key order included); 403 bodies are checked by `assertForbidden`. */
  body?: unknown;
  /** The audit event's subject and role, when the caller is known. */
  by?: { subject: string | null; role: Role | null };
}

/**
 * Sends a call that must be refused, and checks the refusal: its status and body, that the store
 * reached by `watched` (a valid body's identifiers) is exactly as it was, and that the call left
 * exactly one audit event, with the refusal's outcome and status.
 */
export async function expectRefused(
  server: TestServer,
  endpoint: Endpoint,
  watched: Record<string, unknown>,
  send: () => Promise<Reply>,
  expected: Refusal,
): Promise<{ reply: Reply; event: StoredAuditEvent }> {
  const before = await stateOf(server.store, watched);
  const { reply, event } = await auditedCall(server, send);
  assert.equal(reply.status, expected.status, reply.text);
  if (expected.body !== undefined) {
    assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
    assertWire(reply.json, expected.body);
  }
  assert.deepEqual(
    { operation: event.operation, outcome: event.outcome, status: event.status },
    { operation: endpoint.operation, outcome: expected.outcome, status: expected.status },
  );
  if (expected.by) assert.deepEqual({ subject: event.subject, role: event.role }, expected.by);
  assert.deepEqual(await stateOf(server.store, watched), before, 'the refused call changed nothing');
  return { reply, event };
}

/** Who a role's test key is, as the audit trail names it. */
export const caller = (server: TestServer, role: Role = 'HelpDeskAdmin') => ({ subject: server.keys[role].keyFile.accessID, role });

// ---------------------------------------------------------------------------------------------
// The two matrices every endpoint goes through

/** Makes, in the server's store, what a valid body needs, and returns that body. */
export type Setup = (server: TestServer) => Promise<Record<string, unknown>>;

interface BadBody {
  name: string;
  send: (valid: Record<string, unknown>) => { body?: unknown; options?: RequestOptions };
  status: 400 | 413;
  body: unknown;
}

/** `tokenSerialNumber` → `toeknSerialNumber`: the vendor's own misspelling, made of any name. */
const misspell = (name: string): string => name.slice(0, 2) + name[3] + name[2] + name.slice(4);

function without(body: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _omitted, ...rest } = body;
  return rest;
}

/** Replaces the value of `key`, keeping the property's place in the body. */
const withValue = (body: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> =>
  Object.fromEntries(Object.entries(body).map(([k, v]) => [k, k === key ? value : v]));

/** A valid body padded with an extra property to exactly `bytes` bytes of JSON. */
function paddedTo(valid: Record<string, unknown>, bytes: number): string {
  const base = JSON.stringify({ ...valid, pad: '' }).length;
  return JSON.stringify({ ...valid, pad: 'x'.repeat(bytes - base) });
}

function badBodies(endpoint: Endpoint): BadBody[] {
  const json = (body: unknown) => () => ({ body });
  const raw = (rawBody: (valid: Record<string, unknown>) => string, contentType?: string | null) => (valid: Record<string, unknown>) => ({
    options: { rawBody: rawBody(valid), ...(contentType !== undefined ? { contentType } : {}) },
  });
  const cases: BadBody[] = [];
  for (const [name, rule] of Object.entries(endpoint.properties)) {
    if (rule.type === 'string') {
      cases.push(
        { name: `${name} missing`, send: (v) => ({ body: without(v, name) }), status: 400, body: errors.wrongCount },
        {
          name: `${name} misspelled as ${misspell(name)}`,
          send: (v) => ({ body: Object.fromEntries(Object.entries(v).map(([k, x]) => [k === name ? misspell(k) : k, x])) }),
          status: 400,
          body: errors.wrongCount,
        },
      );
      const broken = errors.invalid(name, `must be a non-empty string of at most ${rule.maxLength} characters`);
      const values: Array<[string, unknown]> = [
        ['a number', 140100080], ['null', null], ['a boolean', true], ['an object', { value: 'x' }], ['an array', ['x']],
        ['an empty string', ''], [`a string of ${rule.maxLength + 1} characters`, '1'.repeat(rule.maxLength + 1)],
      ];
      for (const [what, value] of values) {
        cases.push({ name: `${name} is ${what}`, send: (v) => ({ body: withValue(v, name, value) }), status: 400, body: broken });
      }
    } else {
      const broken = errors.invalid(name, 'must be true or false');
      for (const [what, value] of [['the string "true"', 'true'], ['null', null], ['the number 1', 1]] as Array<[string, unknown]>) {
        cases.push({ name: `${name} is ${what}`, send: (v) => ({ body: { ...v, [name]: value } }), status: 400, body: broken });
      }
    }
  }
  const foreign = ['tokenSerialNumber', 'deviceSerialNumber', 'userId', 'email'].find((k) => !(k in endpoint.properties))!;
  cases.push(
    { name: 'an extra property', send: (v) => ({ body: { ...v, extra: 'x' } }), status: 400, body: errors.wrongCount },
    { name: `an extra property of another endpoint (${foreign})`, send: (v) => ({ body: { ...v, [foreign]: '1' } }), status: 400, body: errors.wrongCount },
    { name: 'an empty object', send: json({}), status: 400, body: errors.wrongCount },
    { name: 'an array holding a valid body', send: (v) => ({ body: [v] }), status: 400, body: errors.notObject },
    { name: 'a JSON string', send: json('140100080'), status: 400, body: errors.notObject },
    { name: 'a JSON number', send: json(42), status: 400, body: errors.notObject },
    { name: 'JSON null', send: json(null), status: 400, body: errors.notObject },
    { name: 'no body at all', send: () => ({}), status: 400, body: errors.notObject },
    { name: 'broken JSON (a valid body cut short)', send: raw((v) => JSON.stringify(v).slice(0, -1)), status: 400, body: errors.notJson },
    { name: 'an empty body sent as application/json', send: raw(() => ''), status: 400, body: errors.notJson },
    { name: 'a valid body sent as text/plain', send: raw((v) => JSON.stringify(v), 'text/plain'), status: 400, body: errors.contentType },
    { name: 'a valid body sent without a Content-Type', send: raw((v) => JSON.stringify(v), null), status: 400, body: errors.contentType },
    {
      name: 'a valid body sent as a form',
      send: raw((v) => new URLSearchParams(v as Record<string, string>).toString(), 'application/x-www-form-urlencoded'),
      status: 400,
      body: errors.contentType,
    },
    {
      name: `a body of exactly ${BODY_LIMIT} bytes is read (and refused for its extra property)`,
      send: raw((v) => paddedTo(v, BODY_LIMIT)),
      status: 400,
      body: errors.wrongCount,
    },
    { name: `a body of ${BODY_LIMIT + 1} bytes is too large (413)`, send: raw((v) => paddedTo(v, BODY_LIMIT + 1)), status: 413, body: errors.tooLarge },
  );
  return cases;
}

/**
 * Every way a body can be wrong (spec 1), each a 400 (or 413) that leaves the store as it was and
 * one `invalid` audit event; and the bodies at the edge of the rules that must be accepted.
 * `setup` makes a target in the store and returns the valid body for it, so each refusal is
 * refused for its defect alone and is checked against a target it could have changed.
 */
export function describeBadBodies(context: ServerContext, endpoint: Endpoint, setup: Setup): void {
  describe(`${endpoint.method} ${endpoint.path}: bodies the contract refuses`, () => {
    for (const c of badBodies(endpoint)) {
      test(`${c.name}: ${c.status}`, async () => {
        const { server } = context;
        const valid = await setup(server);
        const { body, options } = c.send(valid);
        await expectRefused(server, endpoint, valid, () => call(server, endpoint, body, options), {
          status: c.status,
          outcome: 'invalid',
          body: c.body,
          by: caller(server),
        });
      });
    }
  });

  describe(`${endpoint.method} ${endpoint.path}: bodies at the edge of the rules are accepted`, () => {
    test('application/json; charset=utf-8 is JSON', async () => {
      const { server } = context;
      const reply = await call(server, endpoint, await setup(server), { contentType: 'application/json; charset=utf-8' });
      assert.equal(reply.status, 200, reply.text);
    });
    for (const [name, rule] of Object.entries(endpoint.properties)) {
      if (rule.type === 'string') {
        test(`${name} of exactly ${rule.maxLength} characters passes validation (and names nothing known: 404)`, async () => {
          const { server } = context;
          const valid = await setup(server);
          const body = withValue(valid, name, '9'.repeat(rule.maxLength));
          const { reply } = await expectRefused(server, endpoint, valid, () => call(server, endpoint, body), {
            status: 404,
            outcome: 'not_found',
            by: caller(server),
          });
          assert.equal((reply.json as { code: string }).code, '404 NOT_FOUND');
        });
      } else {
        test(`${name} may be left out, or be true or false`, async () => {
          const { server } = context;
          for (const body of [without(await setup(server), name), { ...(await setup(server)), [name]: true }, { ...(await setup(server)), [name]: false }]) {
            const reply = await call(server, endpoint, body);
            assert.equal(reply.status, 200, `${JSON.stringify(body)}: ${reply.text}`);
          }
        });
      }
    }
  });
}

/** What a call answered with 200 did: checks its answer and the store (`body` is what was sent). */
export type Effect = (server: TestServer, reply: Reply, role: Role, body: Record<string, unknown>) => Promise<void> | void;

/** Makes a credential as `options` say, for a test of how identifiers are taken. */
export type Target = (server: TestServer, options: Partial<Omit<NewRegistration, 'user'>> & { userId?: string }) => Promise<Credential>;

/**
 * Spec 1: identifiers are opaque strings. User ids that are not RFC 4122 UUIDs are taken as they
 * are, and the leading zeros of serial numbers are significant.
 */
export function describeIdentifiers(context: ServerContext, endpoint: Endpoint, target: Target, effect: Effect): void {
  describe(`${endpoint.method} ${endpoint.path}: identifiers are opaque strings`, () => {
    if ('userId' in endpoint.properties) {
      test('user ids that are not RFC 4122 UUIDs are taken as they are', async () => {
        const { server } = context;
        for (const id of oddUserIds()) {
          const user = await addUser(server, { id });
          const body = bodyFor(endpoint, await target(server, { userId: user.id }));
          const reply = await call(server, endpoint, body);
          assert.equal(reply.status, 200, `${id}: ${reply.text}`);
          await effect(server, reply, 'HelpDeskAdmin', body);
        }
      });
    }
    test('serial numbers keep their leading zeros', async () => {
      const { server } = context;
      const device = `000${freshDevice()}`;
      const c = await target(server, { deviceSerialNumber: device, tokenSerialNumber: `0${device}31` });
      assert.deepEqual([c.deviceSerialNumber, c.tokenSerialNumber], [device, `0${device}31`]);
      const body = bodyFor(endpoint, c);
      const reply = await call(server, endpoint, body);
      assert.equal(reply.status, 200, reply.text);
      await effect(server, reply, 'HelpDeskAdmin', body);
    });
  });
}

/** A credential's identifiers, for a 404 case to pick from and change. */
export const idsOf = (c: Credential): Record<string, string> => ({
  tokenSerialNumber: c.tokenSerialNumber, deviceSerialNumber: c.deviceSerialNumber, userId: c.userId,
});

export interface NotFoundCase {
  name: string;
  /** The body of the call, made from a valid credential (and the server, to make more). */
  body: (credential: Credential, server: TestServer) => Promise<Record<string, string>> | Record<string, string>;
  /** The expected 404 body, from the body sent. */
  error: (body: Record<string, string>) => unknown;
}

/** An unknown user is named in the 404 whatever else the body says (spec 4). */
export const unknownUser: NotFoundCase = {
  name: 'an unknown user: `User <id> not found`',
  body: (c) => ({ ...idsOf(c), userId: `${c.userId.slice(0, -4)}ffff` }),
  error: (b) => errors.userNotFound(b.userId!),
};

/** The 404 of a credential the body's token serial and user id do not describe. */
export const credentialNotFound = (b: Record<string, string>): unknown => errors.credentialNotFound(b.tokenSerialNumber!, b.userId!);

/** Cases of every endpoint that names a credential by its token serial. */
export const tokenCases: NotFoundCase[] = [
  {
    name: 'an unknown token serial',
    body: (c) => ({ ...idsOf(c), tokenSerialNumber: `${c.tokenSerialNumber.slice(0, -2)}99` }),
    error: credentialNotFound,
  },
  {
    name: 'the token serial without its leading zero',
    body: (c) => ({ ...idsOf(c), tokenSerialNumber: c.tokenSerialNumber.replace(/^0+/, '') }),
    error: credentialNotFound,
  },
];

/**
 * 404s: each case changes a valid body so that it names nothing there; the call changes nothing
 * and leaves one `not_found` event. Only the endpoint's own properties are sent.
 */
export function describeNotFound(
  context: ServerContext,
  endpoint: Endpoint,
  title: string,
  target: (server: TestServer) => Promise<Credential>,
  cases: NotFoundCase[],
): void {
  const keep = (b: Record<string, string>) => Object.fromEntries(Object.keys(endpoint.properties).map((k) => [k, b[k]!]));
  describe(`${endpoint.method} ${endpoint.path}: 404 ${title}`, () => {
    for (const c of cases) {
      test(c.name, async () => {
        const { server } = context;
        const credential = await target(server);
        const body = keep(await c.body(credential, server));
        await expectRefused(server, endpoint, bodyFor(endpoint, credential), () => call(server, endpoint, body), {
          status: 404, outcome: 'not_found', body: c.error(body), by: caller(server),
        });
      });
    }
  });
}

/**
 * Spec 3, one test per role: a role that may call the endpoint gets its 200 (`allowed` checks
 * what that did), one that may not gets the Spring 403 `Not authorized to perform the request.`,
 * changes nothing and leaves one `denied` event. A call without a token is refused the same way,
 * with the token message; an expired token, one for another audience and one for an unknown
 * access id each with the message that names its reason (spec 1).
 */
export function describeRoles(
  context: ServerContext,
  endpoint: Endpoint,
  setup: Setup,
  allowed: Effect,
): void {
  const fullPath = `${API}${endpoint.path}`;
  describe(`${endpoint.method} ${endpoint.path}: roles`, () => {
    for (const role of ROLES) {
      const may = endpoint.roles.includes(role);
      test(`${role} ${may ? 'may' : 'may not'} call it`, async () => {
        const { server } = context;
        const body = await setup(server);
        if (may) {
          const reply = await call(server, endpoint, body, { role });
          assert.equal(reply.status, 200, reply.text);
          await allowed(server, reply, role, body);
          return;
        }
        const sentAt = Date.now();
        const { reply } = await expectRefused(server, endpoint, body, () => call(server, endpoint, body, { role }), {
          status: 403,
          outcome: 'denied',
          by: caller(server, role),
        });
        assertForbidden(reply, errors.notAuthorized, fullPath, sentAt, Date.now());
      });
    }
    test('a call without a token is refused: 403, the token message', async () => {
      const { server } = context;
      const body = await setup(server);
      const sentAt = Date.now();
      const { reply } = await expectRefused(server, endpoint, body, () => call(server, endpoint, body, { authorization: null }), {
        status: 403,
        outcome: 'denied',
        by: { subject: null, role: null },
      });
      assertForbidden(reply, errors.tokenRefused, fullPath, sentAt, Date.now());
    });
    test('an expired token, another audience, an unknown access id: 403 naming the reason', async () => {
      const { server } = context;
      const now = Math.floor(Date.now() / 1000);
      const cases: Array<[string, Record<string, unknown>, string]> = [
        ['expired', { iat: now - 3600, exp: now - 1800 }, errors.tokenExpired],
        ['another audience', { aud: 'https://admin.example.com/AdminInterface/restapi' }, errors.invalidAudience],
        ['unknown access id', { sub: randomUUID() }, errors.invalidAccessId],
      ];
      for (const [what, claims, message] of cases) {
        const body = await setup(server);
        const token = await server.sign({ claims });
        const sentAt = Date.now();
        const { reply } = await expectRefused(server, endpoint, body, () => call(server, endpoint, body, { token }), {
          status: 403,
          outcome: 'denied',
          by: { subject: null, role: null },
        });
        assert.equal((reply.json as { message?: unknown }).message, message, what);
        assertForbidden(reply, message, fullPath, sentAt, Date.now());
      }
    });
  });
}
