/** The two matrices every endpoint goes through: bad bodies and roles (with their audit effects). */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { type NewRegistration } from '../../src/domain/directory.ts';
import { ROLES, type Credential, type Role } from '../../src/domain/types.ts';
import { API, type Reply, type RequestOptions, type TestServer } from '../support/server.ts';
import { BODY_LIMIT, type Endpoint, assertForbidden, errors } from './wire.ts';
import { type ServerContext, addUser, bodyFor, call, caller, expectRefused, freshDevice, oddUserIds } from './setup.ts';

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
