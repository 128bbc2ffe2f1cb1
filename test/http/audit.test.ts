/**
 * The audit trail as the HTTP layer writes it (spec 7), over real sockets: a call whose client
 * hangs up before the answer still leaves its one event, and never two; values from a request
 * are kept as sent, and the log shows them escaped.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { StoredAuditEvent } from '../../src/domain/types.ts';
import { API, startServer, type TestServer } from '../support/server.ts';

const JANE = 'ece30fe9-414c-7536-5403-0656220b3046';
const DEVICE = '140100080';

/** Sends one whole request on a socket of its own and destroys the socket as soon as it is written. */
function sendAndHangUp(url: string, method: string, path: string, token: string, body: unknown): Promise<void> {
  const { hostname, port } = new URL(url);
  const payload = JSON.stringify(body);
  const head =
    `${method} ${API}${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(head + payload, () => {
        socket.destroy();
        resolve();
      });
    });
    socket.on('error', reject);
  });
}

/** The events whose target matches, once the trail holds `count` of them (or 10 s have passed). */
async function eventsWhen(server: TestServer, count: number, match: (e: StoredAuditEvent) => boolean): Promise<StoredAuditEvent[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await server.store.flush();
    const events = (await server.store.audit()).filter(match);
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('a client that hangs up before the answer', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ demo: true, signatureThread: true });
  });
  after(() => server.close());

  /**
   * Sends `calls` requests that hang up, then waits for their events: those after `afterSeq`
   * of `operations`. A call whose body the server had not read yet when the socket closed never
   * reaches its handler and is refused as an unreadable body; it still leaves its one event.
   */
  async function hangUpCalls(tokens: string[], send: (token: string, i: number) => Promise<void>, operations: string[]): Promise<StoredAuditEvent[]> {
    await server.store.flush();
    const afterSeq = (await server.store.audit()).at(-1)?.seq ?? 0;
    await Promise.all(tokens.map(send));
    const isOurs = (e: StoredAuditEvent) => e.seq > afterSeq && operations.includes(e.operation);
    await eventsWhen(server, tokens.length, isOurs);
    // One more answered call: whatever the hung-up calls were still going to write is written by now.
    assert.equal((await server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { role: 'ReadOnly' })).status, 200);
    await server.store.flush();
    return (await server.store.audit()).filter(isOurs);
  }

  test('still leaves exactly one audit event per call: lookups with fresh tokens', async () => {
    const calls = 50;
    // A token never seen before costs a signature check, so its call hangs up before (or while)
    // its handler runs; a token already checked goes straight on, and may hang up after.
    const known = await server.sign({ key: server.keys.ReadOnly });
    assert.equal((await server.request('POST', '/v1/users/lookup', { email: 'jane.doe@example.com' }, { token: known })).status, 200);
    const tokens = await Promise.all(
      Array.from({ length: calls }, (_, i) => (i % 2 ? known : server.sign({ key: server.keys.ReadOnly, claims: { jti: `abort-${i}` } }))),
    );
    const events = await hangUpCalls(
      tokens,
      (token, i) => sendAndHangUp(server.url, 'POST', '/v1/users/lookup', token, { email: `gone-${i}@example.com` }),
      ['users.lookup'],
    );

    assert.equal(events.length, calls, `one event per call, got ${events.length} of ${calls}`);
    assert.equal(new Set(events.map((e) => e.requestId)).size, calls, 'no call has two');
    const handled = events.filter((e) => e.target.email !== undefined);
    assert.equal(new Set(handled.map((e) => e.target.email)).size, handled.length, 'no lookup has two events');
    for (const e of events) {
      assert.equal(e.subject, server.keys.ReadOnly.keyFile.accessID);
      const expected = e.target.email === undefined ? ['invalid', 400] : ['not_found', 404];
      assert.deepEqual([e.outcome, e.status], expected, JSON.stringify(e));
    }
  });

  test('a change records its event in its transaction, and the hang-up adds none', async () => {
    const calls = 20;
    const tokens = await Promise.all(Array.from({ length: calls }, (_, i) => server.sign({ claims: { jti: `abort-change-${i}` } })));
    const verb = (i: number) => (i % 2 ? 'disable' : 'enable');
    const events = await hangUpCalls(
      tokens,
      (token, i) => sendAndHangUp(server.url, 'PATCH', `/v1/ds100/${verb(i)}/otp`, token, { deviceSerialNumber: DEVICE, userId: JANE }),
      ['ds100.enable', 'ds100.disable'],
    );

    assert.equal(events.length, calls, `one event per call, got ${events.length} of ${calls}: ${JSON.stringify(events.map((e) => e.outcome))}`);
    assert.equal(new Set(events.map((e) => e.requestId)).size, calls, 'none twice');
    for (const e of events) assert.ok(['changed', 'unchanged', 'invalid'].includes(e.outcome), JSON.stringify(e));
  });
});

/** Characters a terminal or a line reader acts on, but the newline that ends each log line. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('values from a request', () => {
  const logLines: string[] = [];
  let server: TestServer;
  before(async () => {
    server = await startServer({ demo: true, logLines });
  });
  after(() => server.close());

  test('the trail keeps an e-mail as it was sent, control characters and all', async () => {
    const forged = `x@example.com\n2026-01-01T00:00:00.000Z  ds100.disable    changed       200  ${server.keys.SuperAdmin.keyFile.accessID}\u001b[2K\u009b1A\u2028`;
    const r = await server.request('POST', '/v1/users/lookup', { email: forged }, { role: 'ReadOnly' });
    assert.equal(r.status, 404, r.text);
    await server.store.flush();
    const event = (await server.store.audit()).find((e) => e.requestId === r.headers.get('x-request-id'));
    assert.equal(event?.target.email, forged);
  });

  test('the log shows them escaped: each line one JSON object, with no character a terminal acts on', async () => {
    const alg = 'RS256\u001b[31m\u009b2J\u2028\u202e\u007f';
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${b64({ alg, typ: 'JWT' })}.${b64({ sub: 'x' })}.${b64('sig')}`;
    const before = logLines.length;
    const r = await server.request('POST', '/v1/users/lookup', { email: 'jane.doe@example.com' }, { token });
    assert.equal(r.status, 403, r.text);

    const lines = logLines.slice(before).join('').split('\n').filter((l) => l !== '');
    const refusal = lines.map((l) => JSON.parse(l) as { msg: string; reason?: string }).find((l) => l.msg === 'access token refused');
    assert.ok(refusal?.reason?.includes(JSON.stringify(alg)), `the reason names the alg as sent: ${refusal?.reason}`);
    for (const line of lines) assert.doesNotMatch(line, RAW_CONTROL, `no raw control character in ${JSON.stringify(line)}`);
  });
});
