import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import {
  BadRequestError,
  Ds100AdminClient,
  ForbiddenError,
  NotFoundError,
  RateLimitError,
  RequestAbortedError,
  RequestTimeoutError,
  ServerError,
  type RetryEvent,
  type RetryOptions,
} from '@ds100-admin/sdk';
import { startServer, type TestServer } from '../support/server.ts';
import { startStandIn, tooMany, unavailable, type StandIn, type Step } from '../support/stand-in.ts';

const JANE = 'ece30fe9-414c-7536-5403-0656220b3046';
const lookup = { deviceSerialNumber: '140100080' };

let server: TestServer;
let standIn: StandIn | undefined;
before(async () => {
  server = await startServer({ demo: true });
});
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});
after(() => server.close());

/** A client that talks to the real server through a stand-in that first answers `script`. */
async function through(script: Step[], retry: RetryOptions | false = {}, role: 'HelpDeskAdmin' | 'ReadOnly' = 'HelpDeskAdmin') {
  standIn = await startStandIn(server.url, script);
  const events: RetryEvent[] = [];
  const key = server.keys[role].keyFile;
  const client = await Ds100AdminClient.fromKeyFile(key, {
    baseUrl: standIn.url,
    audience: key.adminRestApiUrl,
    retry: retry === false ? false : { baseDelayMs: 5, maxDelayMs: 50, ...retry, onRetry: (e) => events.push(e) },
  });
  return { client, events, standIn };
}

async function rejection<T extends Error>(call: Promise<unknown>, type: new (...a: never[]) => T): Promise<T> {
  const error = await call.then(
    () => assert.fail('the call succeeded'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
  return error;
}

test('a 429 is retried after its Retry-After, then the call succeeds', async () => {
  const { client, events, standIn } = await through([tooMany('1')]);
  const records = await client.lookupDs100(lookup);
  assert.ok(records.length > 0);
  assert.equal(standIn.seen.length, 2);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.reason, '429');
  assert.ok(events[0]!.error instanceof RateLimitError);
  assert.ok(events[0]!.delayMs >= 1000, `waited ${events[0]!.delayMs} ms for Retry-After: 1`);
});

test('a Retry-After longer than the time budget is not waited for: the 429 is thrown at once', async () => {
  const { client, events, standIn } = await through([tooMany('120')], { maxElapsedMs: 5000 });
  const e = await rejection(client.lookupDs100(lookup), RateLimitError);
  assert.equal(e.retryAfterMs, 120_000);
  assert.equal(standIn.seen.length, 1);
  assert.equal(events.length, 0);
});

test('503s are retried with backoff until the server answers', async () => {
  const { client, events, standIn } = await through([unavailable, unavailable]);
  const [item] = await client.enableOtp({ deviceSerialNumber: '140100080', userId: JANE });
  assert.equal(item?.tokenStatus, 'Enabled');
  assert.equal(standIn.seen.length, 3);
  assert.deepEqual(
    events.map((e) => [e.attempt, e.reason]),
    [
      [1, '503'],
      [2, '503'],
    ],
  );
});

test('502 and 504 from a gateway, and a reset connection, are retried', async () => {
  const gateway = (status: number): Step => ({ status, headers: { 'content-type': 'text/html' }, body: '<html>gateway</html>' });
  const { client, events, standIn } = await through([gateway(502), 'reset', gateway(504)]);
  assert.equal((await client.lookupUser({ email: 'jane.doe@example.com' })).id, JANE);
  assert.equal(standIn.seen.length, 4);
  assert.equal(events[0]!.reason, '502');
  assert.ok(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'].includes(events[1]!.reason), events[1]!.reason);
  assert.equal(events[2]!.reason, '504');
});

test('retries are bounded: after maxRetries the last error is thrown', async () => {
  const { client, standIn } = await through([], { maxRetries: 2 });
  standIn.then = unavailable;
  const e = await rejection(client.lookupDs100(lookup), ServerError);
  assert.equal(e.status, 503);
  assert.equal(e.code, '503 SERVICE_UNAVAILABLE');
  assert.equal(standIn.seen.length, 3);
});

test('a gateway page that is not JSON becomes a ServerError with the reason phrase', async () => {
  const { client, standIn } = await through([{ status: 502, headers: { 'content-type': 'text/html' }, body: '<html>bad</html>' }], false);
  const e = await rejection(client.lookupDs100(lookup), ServerError);
  assert.equal(e.code, '502 BAD_GATEWAY');
  assert.equal(e.description, 'Bad Gateway');
  assert.equal(standIn.seen.length, 1);
});

test('retry: false turns retrying off; a call may turn it back on', async () => {
  const { client, standIn } = await through([unavailable, unavailable], false);
  await rejection(client.lookupDs100(lookup), ServerError);
  assert.equal(standIn.seen.length, 1);
  await client.lookupDs100(lookup, { retry: { baseDelayMs: 1 } });
  assert.equal(standIn.seen.length, 3);
});

test('a 500 is not retried', async () => {
  const { client, standIn } = await through([{ status: 500, body: '{"code":"500 INTERNAL_SERVER_ERROR","description":"An internal error occurred."}' }]);
  const e = await rejection(client.lookupDs100(lookup), ServerError);
  assert.equal(e.description, 'An internal error occurred.');
  assert.equal(standIn.seen.length, 1);
});

test('400, 403 and 404 from the real server are never retried', async () => {
  const { client, events, standIn } = await through([], { maxRetries: 5 });
  await rejection(client.lookupDs100({ deviceSerialNumber: 'x'.repeat(37) }), BadRequestError);
  await rejection(client.lookupDs100({ deviceSerialNumber: '555' }), NotFoundError);
  await rejection(client.enableOtp({ deviceSerialNumber: '140100080', userId: 'nobody' }), NotFoundError);
  assert.equal(standIn.seen.length, 3);
  await standIn.close();

  const readOnly = await through([], { maxRetries: 5 }, 'ReadOnly');
  await rejection(readOnly.client.enableOtp({ deviceSerialNumber: '140100080', userId: JANE }), ForbiddenError);
  assert.equal(readOnly.standIn.seen.length, 1);
  assert.equal(events.length + readOnly.events.length, 0);
});

test('no answer within the timeout: RequestTimeoutError, not retried', async () => {
  const { client, standIn } = await through([]);
  standIn.then = 'hang';
  const e = await rejection(client.lookupDs100(lookup, { timeoutMs: 200 }), RequestTimeoutError);
  assert.equal(e.timeoutMs, 200);
  assert.equal(standIn.seen.length, 1);
});

test("the caller's AbortSignal cancels a request in flight", async () => {
  const { client, standIn } = await through(['hang']);
  const controller = new AbortController();
  const call = client.lookupDs100(lookup, { signal: controller.signal, timeoutMs: 0 });
  for (let i = 0; standIn.seen.length === 0; i++) {
    assert.ok(i < 500, 'the request reached the stand-in');
    await new Promise((r) => setTimeout(r, 10));
  }
  controller.abort(new Error('user cancelled'));
  const e = await rejection(call, RequestAbortedError);
  assert.equal((e.cause as Error).message, 'user cancelled');
});

test("the caller's AbortSignal cancels the wait before a retry", async () => {
  const { client, standIn } = await through([tooMany('30')], { maxElapsedMs: 600_000 });
  const controller = new AbortController();
  const call = client.lookupDs100(lookup, {
    signal: controller.signal,
    retry: { onRetry: () => controller.abort() },
  });
  await rejection(call, RequestAbortedError);
  assert.equal(standIn.seen.length, 1);
});

test('an already aborted signal sends nothing', async () => {
  const { client, standIn } = await through([]);
  await rejection(client.lookupDs100(lookup, { signal: AbortSignal.abort() }), RequestAbortedError);
  assert.equal(standIn.seen.length, 0);
});

test('retry options out of bounds are refused', () => {
  const key = server.keys.HelpDeskAdmin.keyFile;
  for (const retry of [{ maxRetries: 11 }, { maxRetries: -1 }, { maxElapsedMs: Number.POSITIVE_INFINITY }]) {
    assert.throws(() => new Ds100AdminClient({ baseUrl: key.adminRestApiUrl, accessId: key.accessID, privateKey: key.accessKey, retry }), RangeError);
  }
});
