/** What every answer of the server shares (spec 1): headers, unknown routes, health, the 500. The OpenAPI document: openapi.test.ts. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { API, startServer, type Reply } from '../support/server.ts';
import { call, newCredential, useServer } from './setup.ts';
import { BODY_LIMIT, ENDPOINTS, assertWire, errors, fixtures } from './wire.ts';

const context = useServer({ demo: true });
const demoEnable = fixtures.examples[0]!.request;

/** Headers every answer carries, whatever its status. */
function assertCommonHeaders(reply: Reply, what: string): void {
  assert.equal(reply.headers.get('cache-control'), 'no-store', `${what}: Cache-Control`);
  assert.match(reply.headers.get('x-request-id') ?? '', /^\S+$/, `${what}: X-Request-Id`);
  assert.equal(reply.headers.get('x-powered-by'), null, `${what}: no X-Powered-By`);
}

describe('unknown routes', () => {
  const cases: Array<[string, string, string]> = [
    ['GET', '/nope', '/nope'],
    ['POST', `${API}/v1/ds100/unknown?secret=1`, `${API}/v1/ds100/unknown`],
    ['GET', `${API}${ENDPOINTS.enable.path}`, `${API}${ENDPOINTS.enable.path}`],
    ['PATCH', `${API}${ENDPOINTS.enable.path}/`, `${API}${ENDPOINTS.enable.path}/`],
  ];
  for (const [method, path, named] of cases) {
    test(`${method} ${path}: 404 with the application error body (the query is not echoed)`, async () => {
      const reply = await context.server.request(method, path, method === 'GET' ? undefined : demoEnable);
      assert.equal(reply.status, 404);
      assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
      assertWire(reply.json, { code: '404 NOT_FOUND', description: `No endpoint ${method} ${named}` });
      assertCommonHeaders(reply, path);
    });
  }
});

test('every kind of answer carries Cache-Control: no-store and its own X-Request-Id, and no X-Powered-By', async () => {
  const { server } = context;
  const lookup = ENDPOINTS.lookupDs100;
  const answers: Array<[string, number, Promise<Reply>]> = [
    ['a lookup', 200, call(server, lookup, { deviceSerialNumber: '140100080' })],
    ['a change', 200, call(server, ENDPOINTS.enable, demoEnable)],
    ['a 400', 400, call(server, lookup, {})],
    ['a 403 (role)', 403, call(server, ENDPOINTS.enable, demoEnable, { role: 'ReadOnly' })],
    ['a 403 (no token)', 403, call(server, lookup, { deviceSerialNumber: '140100080' }, { authorization: null })],
    ['a 404', 404, call(server, lookup, { deviceSerialNumber: '1' })],
    ['a 413', 413, call(server, lookup, { deviceSerialNumber: '1', pad: 'x'.repeat(BODY_LIMIT) })],
    ['an unknown route', 404, server.request('GET', '/nope')],
    ['/healthz', 200, server.request('GET', '/healthz')],
    ['/readyz', 200, server.request('GET', '/readyz')],
    ['the OpenAPI document', 200, server.request('GET', `${API}/openapi.json`)],
  ];
  const ids = new Set<string>();
  for (const [what, status, pending] of answers) {
    const reply = await pending;
    assert.equal(reply.status, status, `${what}: ${reply.text}`);
    assertCommonHeaders(reply, what);
    ids.add(reply.headers.get('x-request-id')!);
  }
  assert.equal(ids.size, answers.length, 'each answer has its own request id');
});

describe('bodies the HTTP layer refuses before any endpoint sees them', () => {
  test(`a chunked body over ${BODY_LIMIT} bytes, with no Content-Length to go by, is refused: 413`, async () => {
    const { server } = context;
    const body = JSON.stringify({ ...demoEnable, pad: 'x'.repeat(BODY_LIMIT) });
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < body.length; i += 1024) controller.enqueue(new TextEncoder().encode(body.slice(i, i + 1024)));
        controller.close();
      },
    });
    const before = await server.store.credentialsByDevice(demoEnable.deviceSerialNumber!);
    const res = await fetch(`${server.url}${API}${ENDPOINTS.enable.path}`, {
      method: ENDPOINTS.enable.method,
      headers: { authorization: `Bearer ${await server.sign()}`, 'content-type': 'application/json' },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    assertWire(await res.json(), errors.tooLarge);
    assert.deepEqual(await server.store.credentialsByDevice(demoEnable.deviceSerialNumber!), before);
  });

  test('a member sent twice counts once, with its last value (as Jackson reads it)', async () => {
    const { server } = context;
    const device = demoEnable.deviceSerialNumber!;
    const last = await call(server, ENDPOINTS.lookupDs100, undefined, { rawBody: `{"deviceSerialNumber": "999999999", "deviceSerialNumber": "${device}"}` });
    assert.equal(last.status, 200, last.text);
    assert.deepEqual(last.json, await call(server, ENDPOINTS.lookupDs100, { deviceSerialNumber: device }).then((r) => r.json));
    const first = await call(server, ENDPOINTS.lookupDs100, undefined, { rawBody: `{"deviceSerialNumber": "${device}", "deviceSerialNumber": "999999999"}` });
    assert.equal(first.status, 404, first.text);
  });

  test('a body naming __proto__ or constructor.prototype is refused as an extra property (400) and pollutes nothing', async () => {
    const { server } = context;
    const before = await server.store.credentialsByDevice(demoEnable.deviceSerialNumber!);
    for (const poison of ['"__proto__": {"polluted": true}', '"constructor": {"prototype": {"polluted": true}}']) {
      const rawBody = `{${poison}, ${JSON.stringify(demoEnable).slice(1)}`;
      const reply = await call(server, ENDPOINTS.enable, undefined, { rawBody });
      assert.equal(reply.status, 400, reply.text);
      assert.deepEqual(reply.json, errors.wrongCount, poison);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    }
    // In place of a documented property, the count is right and the value is what is wrong.
    const nested = await call(server, ENDPOINTS.lookupDs100, undefined, { rawBody: '{"deviceSerialNumber": {"__proto__": {"polluted": true}}}' });
    assert.equal(nested.status, 400, nested.text);
    assert.match((nested.json as { description: string }).description, /^Invalid value for property 'deviceSerialNumber'/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(await server.store.credentialsByDevice(demoEnable.deviceSerialNumber!), before);
  });
});

describe('health', () => {
  test('/healthz answers without a token', async () => {
    const reply = await context.server.request('GET', '/healthz', undefined, { authorization: null });
    assert.equal(reply.status, 200);
    assertWire(reply.json, { status: 'ok' });
  });

  test('/readyz answers without a token, naming the store it reached', async () => {
    const reply = await context.server.request('GET', '/readyz', undefined, { authorization: null });
    assert.equal(reply.status, 200);
    assertWire(reply.json, { status: 'ready', store: context.server.store.engine });
  });
});

describe('a 500 leaks nothing', () => {
  test('its detail goes to the server log, under the request id the client was given', async () => {
    const logLines: string[] = [];
    const server = await startServer({ logLines });
    try {
      const c = await newCredential(server);
      await server.store.close();
      const reply = await call(server, ENDPOINTS.lookupDs100, { deviceSerialNumber: c.deviceSerialNumber });
      assert.equal(reply.status, 500, reply.text);
      assert.equal(reply.text, JSON.stringify(errors.internal));
      const requestId = reply.headers.get('x-request-id');
      assert.ok(requestId);
      const entries = logLines.map((l) => JSON.parse(l) as { level: number; reqId?: string; msg?: string; err?: { message?: string; stack?: string } });
      const entry = entries.find((e) => e.reqId === requestId && e.level >= 50);
      assert.ok(entry, `an error line for ${requestId} in: ${logLines.join('')}`);
      assert.equal(entry.msg, 'internal error');
      assert.match(entry.err?.message ?? '', /closed|not open|after calling end/i, 'the cause (the store is closed) is in the log');
      assert.ok(entry.err?.stack, 'with its stack, which the client never sees');
      assert.doesNotMatch(logLines.join(''), /Bearer|PRIVATE KEY/, 'no token or key material in the log');
    } finally {
      await server.close();
    }
  });

  test('with its store gone, the server answers the bare 500 body and /readyz says it is not ready', async () => {
    const server = await startServer();
    try {
      const c = await newCredential(server);
      const before = await call(server, ENDPOINTS.lookupDs100, { deviceSerialNumber: c.deviceSerialNumber });
      assert.equal(before.status, 200, before.text);

      await server.store.close();
      const expected = JSON.stringify(errors.internal);
      assert.deepEqual(errors.internal, fixtures.errorBodies.internal);
      for (const [endpoint, body] of [
        [ENDPOINTS.lookupDs100, { deviceSerialNumber: c.deviceSerialNumber }],
        [ENDPOINTS.enable, { deviceSerialNumber: c.deviceSerialNumber, userId: c.userId }],
      ] as const) {
        const reply = await call(server, endpoint, body);
        assert.equal(reply.status, 500, `${endpoint.operation}: ${reply.text}`);
        assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
        assert.equal(reply.text, expected, `${endpoint.operation}: exactly the generic body`);
        assertCommonHeaders(reply, endpoint.operation);
      }

      const ready = await server.request('GET', '/readyz');
      assert.equal(ready.status, 503);
      assertWire(ready.json, { status: 'unavailable', store: server.store.engine });
    } finally {
      await server.close();
    }
  });
});
