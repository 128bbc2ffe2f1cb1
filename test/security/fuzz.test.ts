/**
 * Suite 2 of issue 6: property-based fuzzing of the running server with fast-check, over real
 * sockets on loopback. The requests are written byte by byte (a raw HTTP/1.1 client), so that any
 * method, path, header name or value, framing and body can be sent, not only what fetch allows.
 *
 * Properties, for every request:
 * - an answer arrives, or the connection is closed, before a generous deadline: no hang;
 * - never a 500 (nor any 5xx), and the process does not crash (it is this process);
 * - every error body is in one of the wire's two shapes (spec 1): `{code, description}` with
 *   `code` = status and reason phrase, or the Spring 403;
 * - the directory and the keys are unchanged unless a PATCH or DELETE answered 200.
 * `/healthz` is asked between runs: the server still answers.
 *
 * Seeds are fixed (FUZZ_SEED overrides), so a failure replays. `npm test` runs about 200 cases;
 * STRESS=1 (`npm run test:stress`) runs FUZZ_RUNS (default 5000) per property. Each
 * counterexample found is kept at the end of this file as a named regression case. FUZZ_TRACE=1
 * prints every case and its answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { demoRegistrations, demoUsers } from '../../src/domain/demo-seed.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { makeDirectoryService } from '../../src/domain/directory.ts';
import type { Actor, Role } from '../../src/domain/types.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { ALEX, DEVICE, JANE, JOHN, REST, STRESS, b64url, errorShapeProblem, rawRequest, snapshot, type RawReply } from '../support/attacks.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_250_614);
const STRESS_RUNS = Number(process.env.FUZZ_RUNS ?? 5000);
/** Runs per property: short in `npm test` (about 200 in all), long under STRESS. */
const runs = (short: number): number => (STRESS ? Math.max(short, Math.round((STRESS_RUNS * short) / 80)) : short);
/** No answer nor close within this long is a hang. Generous: it detects hangs, it does not time. */
const DEADLINE_MS = 15_000;

let server: TestServer;
let port: number;
let directory: ReturnType<typeof makeDirectoryService>;
const seeder: Actor = { kind: 'operator', subject: 'fuzz-seed', role: null, clientAddress: 'local', requestId: null };
const stats = { cases: 0, requests: 0, statuses: new Map<string, number>(), changes: 0, healthChecks: 0 };

before(async () => {
  server = await startServer({ demo: true });
  port = Number(new URL(server.url).port);
  directory = makeDirectoryService({ store: server.store, clock: systemClock });
});
after(async () => {
  await server.close();
  const statuses = [...stats.statuses].sort().map(([s, n]) => `${s}:${n}`).join(' ');
  console.log(`# fuzz: seed ${SEED}, ${stats.cases} cases, ${stats.requests} requests, ${stats.changes} changes by a 200, ${stats.healthChecks} health checks; statuses ${statuses}`);
});

// ---------------------------------------------------------------------------------------------
// The request, and what makes one

interface Case {
  method: string;
  /** The request-target, as sent (a string: non-ASCII goes out as UTF-8). */
  target: string;
  /** Authorization: a role's good token, a value of our own, or none. */
  auth: { role: Role } | { value: string } | null;
  contentType: string | null;
  headers: Array<[string, string]>;
  body: Buffer | null;
  /** How the body is framed: Content-Length (right, too short, too long), chunked, both, or none. */
  framing: 'length' | 'chunked' | 'both' | 'none' | 'short' | 'long';
}

const tokens = new Map<Role, { token: string; at: number }>();
async function tokenOf(role: Role): Promise<string> {
  const t = tokens.get(role);
  if (t && Date.now() - t.at < 300_000) return t.token;
  const token = await server.sign({ key: server.keys[role] });
  tokens.set(role, { token, at: Date.now() });
  return token;
}

async function serialize(c: Case): Promise<Buffer> {
  const lines = [`${c.method} ${c.target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  if (c.auth) lines.push(`Authorization: ${'role' in c.auth ? `Bearer ${await tokenOf(c.auth.role)}` : c.auth.value}`);
  if (c.contentType !== null) lines.push(`Content-Type: ${c.contentType}`);
  for (const [name, value] of c.headers) lines.push(`${name}: ${value}`);
  const body = c.body ?? Buffer.alloc(0);
  let payload = body;
  if (c.framing === 'length' || (c.framing === 'none' && body.length > 0)) lines.push(`Content-Length: ${body.length}`);
  if (c.framing === 'short') lines.push(`Content-Length: ${Math.max(0, body.length - 3)}`);
  if (c.framing === 'long') lines.push(`Content-Length: ${body.length + 7}`);
  if (c.framing === 'chunked' || c.framing === 'both') {
    lines.push('Transfer-Encoding: chunked');
    if (c.framing === 'both') lines.push(`Content-Length: ${body.length}`);
    const half = Math.floor(body.length / 2);
    const chunks = [body.subarray(0, half), body.subarray(half)].filter((b) => b.length > 0);
    payload = Buffer.concat([...chunks.flatMap((b) => [Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), payload]);
}

const ROUTES = [
  { method: 'PATCH', path: '/v1/ds100/enable/otp', props: ['deviceSerialNumber', 'userId'] },
  { method: 'PATCH', path: '/v1/ds100/disable/otp', props: ['deviceSerialNumber', 'userId'] },
  { method: 'DELETE', path: '/v1/ds100/delete/otp', props: ['tokenSerialNumber', 'deviceSerialNumber', 'userId'] },
  { method: 'PATCH', path: '/v1/ds100/clearPin/otp', props: ['tokenSerialNumber', 'userId'] },
  { method: 'POST', path: '/v1/ds100/lookup', props: ['deviceSerialNumber'] },
  { method: 'POST', path: '/v1/users/lookup', props: ['email', 'searchUnsynched'] },
] as const;

/** `arbitrary` once in `every` draws, null otherwise. */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, every: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: every - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });

/** One character of trouble: lone surrogates, NUL and other controls, bidi overrides, BOM, combining marks, astral. */
const weirdChar = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((n) => String.fromCharCode(n)),
  fc.constantFrom('\u0000', '\u0001', '\u001f', '\u007f', '\u0085', '\u2028', '\u2029', '\u202e', '\u200f', '\u200b', '\ufeff', '\u0301', '\uffff', '\u{1f600}', '"', '\\', '\r', '\n', '%', '\u00e9'),
);
const weirdString = (maxLength: number) => fc.string({ unit: weirdChar, maxLength });

/** Strings an identifier might be: the demo's real ones (so that some calls succeed), their near misses, and trouble. */
const fuzzString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(DEVICE, JANE, JOHN, ALEX, '014010008031', '014010008038', '014010008039', '014010008035', 'jane.doe@example.com', 'JANE.DOE@example.COM') },
  { weight: 2, arbitrary: fc.constantFrom(` ${DEVICE}`, `${DEVICE}\u0000`, `\u202e${DEVICE}`, JANE.toUpperCase(), '', ' ', 'a'.repeat(36), 'a'.repeat(37), `${'\u{1f600}'.repeat(18)}`, "' OR '1'='1", '%00', '../../etc/passwd', '${jndi:ldap://127.0.0.1/x}', '__proto__') },
  { weight: 3, arbitrary: weirdString(40) },
  { weight: 1, arbitrary: fc.string({ maxLength: 400 }) },
);

/** Number literals at the edges, as JSON text (so that 1e400 and 30-digit integers reach the parser as written). */
const edgeNumber = fc.oneof(
  fc.constantFrom('-0', '0', '0.0', '1e308', '-1e308', '1e400', '-1e400', '5e-324', '1e-400', '9007199254740993', '-9007199254740993', '123456789012345678901234567890', '1E+2', '140100080', '0.1', '-1', '1.7976931348623157e308'),
  fc.double().filter(Number.isFinite).map(String),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
);

/** A JSON value as text, nested a little, with raw number literals and trouble in every string. */
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fuzzString.map((s) => JSON.stringify(s)),
    edgeNumber,
    fc.constantFrom('true', 'false', 'null'),
    fc.array(tie('value'), { maxLength: 4 }).map((a) => `[${a.join(',')}]`),
    fc.array(fc.tuple(fc.oneof(fuzzString, fc.constantFrom('__proto__', 'constructor', 'prototype')), tie('value')), { maxLength: 4 })
      .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
})).value;

/** A body shaped like the route's: some of its properties (sometimes twice, sometimes extra ones), each any value. */
function routeBody(props: readonly string[]): fc.Arbitrary<string> {
  const entry = fc.tuple(
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...props) }, { weight: 1, arbitrary: fc.constantFrom('pin', 'userid', 'toeknSerialNumber', '__proto__', 'constructor', '') }, { weight: 1, arbitrary: weirdString(12) }),
    fc.oneof({ weight: 6, arbitrary: fuzzString.map((s) => JSON.stringify(s)) }, { weight: 2, arbitrary: jsonText }, { weight: 1, arbitrary: fc.constantFrom('true', 'false') }),
  );
  const real = props.filter((p) => p !== 'searchUnsynched');
  return fc.oneof(
    // The properties of one real demo credential, one of them now and then replaced: calls that reach the store and change it.
    { weight: 5, arbitrary: fc.record({ registration: fc.constantFrom(...demoRegistrations), swap: sometimes(fc.tuple(fc.nat(), fuzzString), 3) }).map(({ registration, swap }) => {
      const values: Record<string, string> = {
        tokenSerialNumber: registration.tokenSerialNumber!,
        deviceSerialNumber: registration.deviceSerialNumber,
        userId: registration.user,
        email: demoUsers.find((u) => u.id === registration.user)?.email ?? '',
      };
      if (swap) values[real[swap[0] % real.length]!] = swap[1];
      return `{${real.map((p) => `${JSON.stringify(p)}:${JSON.stringify(values[p])}`).join(',')}}`;
    }) },
    // Exactly the properties, each a string: the shape most likely to pass validation and reach the store.
    { weight: 3, arbitrary: fc.tuple(...props.filter((p) => p !== 'searchUnsynched').map(() => fuzzString)).map(
      (values) => `{${props.filter((p) => p !== 'searchUnsynched').map((p, i) => `${JSON.stringify(p)}:${JSON.stringify(values[i])}`).join(',')}}`,
    ) },
    { weight: 2, arbitrary: fc.array(entry, { maxLength: 5 }).map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`) },
  );
}

/** Any body at all: JSON of another shape, text, bytes, nothing, too large, deeply nested. */
const anyBody: fc.Arbitrary<Buffer | null> = fc.oneof(
  { weight: 3, arbitrary: jsonText.map((t) => Buffer.from(t)) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map((t) => Buffer.from(t)) },
  { weight: 2, arbitrary: weirdString(80).map((t) => Buffer.from(t)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '', 'null', '[]', '"x"', '1', '{', '{"a":', '\ufeff{}', '{}\u0000', '{"deviceSerialNumber":"140100080"}garbage',
      `{"deviceSerialNumber":"${'9'.repeat(17_000)}"}`, '['.repeat(3000) + ']'.repeat(3000), `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`,
      '{"__proto__":{"polluted":1},"deviceSerialNumber":"140100080"}', '{"constructor":{"prototype":{"polluted":1}}}',
    ).map((t) => Buffer.from(t)),
  },
  { weight: 1, arbitrary: fc.integer({ min: 16_000, max: 17_000 }).map((n) => Buffer.alloc(n, 0x61)) },
);

const contentType = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8', 'Application/JSON') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/json; charset=utf-16',
      'application/json;;', 'application/json; charset', 'application/*', '*/*', '', ' ', 'application/problem+json', 'application/json, text/plain',
    ),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[\x21-\x7e]{0,40}$/) },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** Extra headers: common ones with odd values, random names, and values of any size and bytes. */
const extraHeaders = fc.array(
  fc.oneof(
    fc.tuple(fc.constantFrom('Accept', 'Accept-Encoding', 'Content-Encoding', 'Expect', 'Upgrade', 'X-Forwarded-For', 'X-Request-Id', 'Origin', 'Cookie', 'Range', 'If-None-Match', 'Keep-Alive', 'TE'), weirdString(30)),
    fc.tuple(fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/), fc.string({ maxLength: 60 })),
    fc.tuple(fc.constant('X-Big'), fc.integer({ min: 1, max: 18_000 }).map((n) => 'b'.repeat(n))),
    fc.tuple(weirdString(10), weirdString(10)),
  ),
  { maxLength: 4 },
);

const authorization: fc.Arbitrary<Case['auth']> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<Role>('SuperAdmin', 'HelpDeskAdmin', 'ReadOnly').map((role) => ({ role })) },
  { weight: 1, arbitrary: fc.constant(null) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom('Bearer', 'Bearer ', 'Bearer a.b.c', 'Basic dXNlcjpwYXNz', 'Bearer ....', `Bearer ${'A'.repeat(8200)}`, 'Bearer eyJhbGciOiJub25lIn0.e30.'),
        weirdString(60).map((s) => `Bearer ${s}`),
        // Token-shaped, unsigned: the claims reach the key lookup before the signature is checked.
        fc.record({ sub: fc.oneof(fuzzString, jsonText.map((t) => JSON.parse(t) as unknown)), alg: fc.constantFrom('RS256', 'none', 'HS256') }).map(
          ({ sub, alg }) => `Bearer ${b64url({ alg, typ: 'JWT' })}.${b64url({ sub, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600 })}.${b64url('x'.repeat(256))}`,
        ),
      )
      .map((value) => ({ value })),
  },
);

/** A call to one of the six operations, with a good token most of the time, and a body shaped like the route's. */
const apiCase: fc.Arbitrary<Case> = fc
  .record({
    route: fc.constantFrom(...ROUTES),
    auth: authorization,
    contentType,
    framing: fc.oneof(
      { weight: 8, arbitrary: fc.constant<Case['framing']>('length') },
      { weight: 1, arbitrary: fc.constantFrom<Case['framing']>('chunked', 'both', 'short', 'long') },
    ),
    query: fc.oneof(fc.constant(''), fc.constant('?'), fc.stringMatching(/^\?[a-z=&%0-9]{0,20}$/)),
  })
  .chain(({ route, ...rest }) =>
    fc.record({ body: fc.oneof({ weight: 6, arbitrary: routeBody(route.props).map((t) => Buffer.from(t)) }, { weight: 1, arbitrary: anyBody }) }).map(
      ({ body }): Case => ({ method: route.method, target: `${REST}${route.path}${rest.query}`, auth: rest.auth, contentType: rest.contentType, headers: [], body, framing: rest.framing }),
    ),
  );

/**
 * Calls that mean to change the directory: a writer's token, JSON, and the identifiers of a real
 * credential, one of them replaced now and then by a near miss or by trouble. Here a change must
 * come with a 200 and a near miss must change nothing.
 */
const mutationCase: fc.Arbitrary<Case> = fc
  .record({
    route: fc.constantFrom(...ROUTES.filter((r) => r.method !== 'POST')),
    role: fc.constantFrom<Role>('SuperAdmin', 'HelpDeskAdmin', 'HelpDeskAdmin', 'ReadOnly'),
    registration: fc.constantFrom(...demoRegistrations),
    swap: sometimes(fc.tuple(fc.nat(), fuzzString), 3),
    extra: sometimes(fc.tuple(fc.constantFrom('pin', 'tokenStatus', 'userId', '__proto__'), fuzzString), 6),
  })
  .map(({ route, role, registration, swap, extra }): Case => {
    const values: Record<string, string> = { tokenSerialNumber: registration.tokenSerialNumber!, deviceSerialNumber: registration.deviceSerialNumber, userId: registration.user };
    if (swap) values[route.props[swap[0] % route.props.length]!] = swap[1];
    const entries = route.props.map((p) => `${JSON.stringify(p)}:${JSON.stringify(values[p])}`);
    if (extra) entries.push(`${JSON.stringify(extra[0])}:${JSON.stringify(extra[1])}`);
    return { method: route.method, target: `${REST}${route.path}`, auth: { role }, contentType: 'application/json', headers: [], body: Buffer.from(`{${entries.join(',')}}`), framing: 'length' };
  });

const METHODS = ['GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'PURGE'];
const KNOWN_PATHS = [...ROUTES.map((r) => `${REST}${r.path}`), '/healthz', '/readyz', '/metrics', `${REST}/openapi.json`];

/** Any path: the known ones bent (case, slashes, encodings, dot segments), and anything under and outside the REST base. */
const target = fc.oneof(
  fc.constantFrom(...KNOWN_PATHS),
  fc.tuple(fc.constantFrom(...KNOWN_PATHS), fc.constantFrom('/', '//', '/.', '/..', '%2F', '%2e', '%', '%zz', '%00', '%C0%AF', ';x', '?a=%zz', '#f', ' ', '\t')).map(([p, s]) => p + s),
  fc.constantFrom(...KNOWN_PATHS).map((p) => p.toUpperCase()),
  fc.constantFrom(...KNOWN_PATHS).map((p) => p.replace(/\//g, '//')),
  fc.constantFrom(...KNOWN_PATHS).map((p) => p.replace('/v1/', '/v1/../v1/')),
  fc.webPath().map((p) => `${REST}${p.startsWith('/') ? p : `/${p}`}`),
  fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)),
  weirdString(30).map((s) => `${REST}/${s}`),
  weirdString(30).map((s) => `/${s}`),
  fc.constantFrom('*', '/', '', 'http://127.0.0.1/healthz', `http://evil.example${REST}/v1/ds100/lookup`, `${REST}/v1/ds100/lookup?${'q'.repeat(9000)}`, `/${'a/'.repeat(3000)}`),
);

/** Anything on the wire: method, path, headers, framing and body drawn independently. */
const rawCase: fc.Arbitrary<Case> = fc.record({
  method: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z]{1,10}$/) }, { weight: 1, arbitrary: weirdString(8) }),
  target,
  auth: authorization,
  contentType,
  headers: extraHeaders,
  body: anyBody,
  framing: fc.constantFrom<Case['framing']>('length', 'length', 'chunked', 'none', 'both', 'short', 'long'),
});

/** Header sizes around Node's 16 KiB limit, on calls that would otherwise succeed. */
const headerSizeCase: fc.Arbitrary<Case> = fc
  .record({
    route: fc.constantFrom(...ROUTES.filter((r) => r.method === 'POST')),
    size: fc.integer({ min: 14_000, max: 18_000 }),
    count: fc.integer({ min: 1, max: 40 }),
  })
  .map(({ route, size, count }): Case => ({
    method: route.method,
    target: `${REST}${route.path}`,
    auth: { role: 'ReadOnly' },
    contentType: 'application/json',
    headers: Array.from({ length: count }, (_, i) => [`X-Pad-${i}`, 'p'.repeat(Math.floor(size / count))]),
    body: Buffer.from(route.path.includes('users') ? '{"email":"jane.doe@example.com"}' : `{"deviceSerialNumber":"${DEVICE}"}`),
    framing: 'length',
  }));

// ---------------------------------------------------------------------------------------------
// The properties

/** Sends one case and checks every property; returns the reply for callers that want more. */
async function check(c: Case): Promise<RawReply> {
  const before = await snapshot(server.store);
  const bytes = await serialize(c);
  // A request announcing more body than it sends is followed by a half-close (the client has no
  // more to say); a complete one is not: Node's server drops the answer to a request whose client
  // half-closed before it was written (httpAllowHalfOpen is false), which is Node's choice, not ours.
  const reply = await rawRequest(port, bytes, { timeoutMs: DEADLINE_MS, halfClose: c.framing === 'long' });
  stats.cases++;
  stats.requests++;
  const key = reply.status === null ? `none(${reply.end})` : String(reply.status);
  stats.statuses.set(key, (stats.statuses.get(key) ?? 0) + 1);
  const what = `${c.method} ${JSON.stringify(c.target.slice(0, 120))} -> ${key}: ${reply.raw.subarray(0, 300).toString('latin1')}`;

  assert.notEqual(reply.end, 'timeout', `no answer and no close within ${DEADLINE_MS} ms: ${what}`);
  assert.ok(reply.status === null || reply.status < 500, `a ${reply.status}: ${what}`);
  if (reply.status === null) {
    // Only a request that never ended (more body announced than sent) or a CONNECT may be closed unanswered.
    assert.ok(c.framing === 'long' || c.method === 'CONNECT', `closed without an answer: ${what}`);
  } else if (c.method !== 'HEAD') {
    const problem = errorShapeProblem(reply.status, reply.headers['content-type'] ?? null, reply.body.toString('utf8'));
    assert.equal(problem, null, `${problem}: ${what}`);
  }
  if (process.env.FUZZ_TRACE) console.log('#', key, c.method, c.target.slice(0, 60), c.contentType, c.framing, JSON.stringify(c.auth).slice(0, 40), c.body?.subarray(0, 120).toString());
  const afterSnapshot = await snapshot(server.store);
  if (afterSnapshot !== before) {
    stats.changes++;
    assert.ok(reply.status === 200 && (c.method === 'PATCH' || c.method === 'DELETE'), `the store changed: ${what}`);
  }
  return reply;
}

/** Registers again any demo credential a fuzzed delete removed, so that later cases still find something to change. */
async function restoreDemo(): Promise<void> {
  for (const r of demoRegistrations) {
    if (!(await server.store.credentialByTokenSerial(r.tokenSerialNumber!))) await directory.register(seeder, r);
  }
}

async function healthy(): Promise<void> {
  const r = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(DEADLINE_MS) });
  stats.healthChecks++;
  stats.requests++;
  assert.equal(r.status, 200, 'healthz');
  assert.deepEqual(await r.json(), { status: 'ok' });
}

async function fuzz(arbitrary: fc.Arbitrary<Case>, numRuns: number, seedOffset: number): Promise<void> {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(arbitrary, async (c) => {
      await check(c);
      await restoreDemo();
      if (++n % 50 === 0) await healthy();
    }),
    { seed: SEED + seedOffset, numRuns: runs(numRuns), endOnFailure: true, interruptAfterTimeLimit: STRESS ? 40 * 60_000 : 120_000 },
  );
  await healthy();
}

describe('fuzz: properties over the running server', () => {
  test('calls to the six operations: good and bad tokens, bodies shaped like the route, any content type and framing', async () => {
    await fuzz(apiCase, 70, 0);
  });

  test('calls meant to change the directory, with near misses: a change only with a 200', async () => {
    await fuzz(mutationCase, 30, 3);
  });

  test('anything on the wire: methods, paths under and outside the REST base, headers, bodies', async () => {
    await fuzz(rawCase, 70, 1);
  });

  test('header sizes around the 16 KiB limit', async () => {
    await fuzz(headerSizeCase, 20, 2);
  });

  test('the fuzz reaches the store: a good call still changes the directory', async () => {
    // A control: the properties above would see a change if one happened.
    const before = await snapshot(server.store);
    const r = await check({
      method: 'PATCH', target: `${REST}/v1/ds100/enable/otp`, auth: { role: 'HelpDeskAdmin' }, contentType: 'application/json', headers: [],
      body: Buffer.from(JSON.stringify({ deviceSerialNumber: DEVICE, userId: JANE })), framing: 'length',
    });
    const r2 = await check({
      method: 'PATCH', target: `${REST}/v1/ds100/disable/otp`, auth: { role: 'HelpDeskAdmin' }, contentType: 'application/json', headers: [],
      body: Buffer.from(JSON.stringify({ deviceSerialNumber: DEVICE, userId: JANE })), framing: 'length',
    });
    assert.equal(r.status, 200);
    assert.equal(r2.status, 200);
    assert.notEqual(await snapshot(server.store), before);
  });
});

/**
 * Counterexamples the fuzz found, each kept as a case of its own. The first four were answered
 * by Fastify or Node in a shape of their own (`{"error","message","statusCode"}`), not the wire's.
 */
describe('fuzz regressions', () => {
  const plain = (method: string, path: string, extra = ''): string => `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`;

  async function expectError(request: string | Buffer, status: number, code: string): Promise<RawReply> {
    const reply = await rawRequest(port, request, { timeoutMs: DEADLINE_MS });
    stats.requests++;
    assert.equal(reply.status, status, reply.raw.toString('latin1').slice(0, 300));
    assert.equal(errorShapeProblem(reply.status, reply.headers['content-type'] ?? null, reply.body.toString()), null);
    assert.equal((JSON.parse(reply.body.toString()) as { code: string }).code, code);
    assert.equal(reply.headers['cache-control'], 'no-store');
    return reply;
  }

  test('a path that does not percent-decode (%zz) is a 400 in the application shape (was Fastify FST_ERR_BAD_URL)', async () => {
    await expectError(plain('GET', `${REST}/%zz`), 400, '400 BAD_REQUEST');
    await expectError(plain('POST', `${REST}/v1/ds100/lookup%`), 400, '400 BAD_REQUEST');
  });

  test('headers over 16 KiB are a 431 in the application shape, and the connection is closed (was Fastify shape)', async () => {
    const reply = await expectError(plain('GET', '/healthz', `X-Big: ${'b'.repeat(17_000)}\r\n`), 431, '431 REQUEST_HEADER_FIELDS_TOO_LARGE');
    assert.equal(reply.end, 'closed');
  });

  test("a request Node's HTTP parser refuses is a 400 in the application shape (was Fastify shape)", async () => {
    await expectError(plain('GET', '/healthz', 'X-Nul: a\u0000b\r\n'), 400, '400 BAD_REQUEST');
    await expectError(plain('G\u00c9T', '/healthz'), 400, '400 BAD_REQUEST');
    await expectError(plain('get', '/healthz'), 400, '400 BAD_REQUEST');
    await expectError(plain('POST', '/healthz', 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n'), 400, '400 BAD_REQUEST');
  });

  test("an Expect other than 100-continue is a 417 in the application shape (was Node's bodiless 417)", async () => {
    await expectError(plain('PUT', '/Y', 'Expect: something\r\n'), 417, '417 EXPECTATION_FAILED');
    await expectError(plain('POST', `${REST}/v1/ds100/lookup`, 'Expect: 200-ok\r\n'), 417, '417 EXPECTATION_FAILED');
  });

  test('a NUL in an identifier or an e-mail address is a 400 on every engine (was a 500 on PostgreSQL, a 404 on SQLite)', async () => {
    const body = (o: object) => JSON.stringify(o);
    for (const [path, payload] of [
      ['/v1/ds100/enable/otp', body({ deviceSerialNumber: DEVICE, userId: `\u0000\u202e${JANE.slice(0, 20)}` })],
      ['/v1/ds100/lookup', body({ deviceSerialNumber: `${DEVICE}\u0000` })],
      ['/v1/ds100/clearPin/otp', body({ tokenSerialNumber: '\u0000', userId: JOHN })],
      ['/v1/users/lookup', body({ email: 'jane.doe@example.com\u0000' })],
    ] as const) {
      const method = path.includes('lookup') ? 'POST' : 'PATCH';
      const request = `${method} ${REST}${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await tokenOf('SuperAdmin')}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`;
      const reply = await expectError(request, 400, '400 BAD_REQUEST');
      assert.match(JSON.parse(reply.body.toString()).description as string, /^Invalid value for property '\w+': must not contain a NUL character\.$/);
    }
  });

  test('a token whose sub holds a NUL is the one 403 (was a 500 on PostgreSQL)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ sub: '\u0000', iat: now, exp: now + 600 })}.${b64url('x'.repeat(256))}`;
    const reply = await rawRequest(port, plain('POST', `${REST}/v1/ds100/lookup`, `Authorization: Bearer ${token}\r\n`), { timeoutMs: DEADLINE_MS });
    stats.requests++;
    assert.equal(reply.status, 403, reply.raw.toString('latin1').slice(0, 300));
  });

  test('a body announced longer than sent, then a half-close, is a 400 in the application shape (was Fastify shape)', async () => {
    const body = `{"deviceSerialNumber":"${DEVICE}"}`;
    const request = `POST ${REST}/v1/ds100/lookup HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await tokenOf('ReadOnly')}\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 7}\r\nConnection: close\r\n\r\n${body}`;
    const reply = await rawRequest(port, request, { timeoutMs: DEADLINE_MS, halfClose: true });
    stats.requests++;
    if (reply.status !== null) assert.equal(errorShapeProblem(reply.status, reply.headers['content-type'] ?? null, reply.body.toString()), null);
    assert.notEqual(reply.end, 'timeout');
  });
});
