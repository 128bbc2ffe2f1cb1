/**
 * Spec section 6 over real HTTP, with small configured limits and a manual clock: the 429 comes
 * exactly after the configured number of calls, carries the application error body, Retry-After
 * and the RateLimit-* headers, changes nothing (store and audit trail, beyond its one
 * `rate_limited` event); the per-address bucket is taken before the token is even read; buckets
 * refill with time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { manualClock } from '../../src/domain/clock.ts';
import type { Credential } from '../../src/domain/types.ts';
import { startServer, startServer as startTestServer, type Reply, type TestServer } from '../support/server.ts';

const T0 = 1_750_000_000_000;
const JANE = 'ece30fe9-414c-7536-5403-0656220b3046';
const JOHN = '87927fb7-e185-4c33-c7e3-8e077675973c';
const DEVICE = '140100080';
const TOO_MANY = { code: '429 TOO_MANY_REQUESTS', description: 'Too many requests.' };
const GENEROUS = { capacity: 1_000_000, windowSeconds: 60 };

function assert429(r: Reply, expect: { limit: number; retryAfter: number; reset: number }, what: string): void {
  assert.equal(r.status, 429, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, what);
  assert.deepEqual(r.json, TOO_MANY, what);
  assert.deepEqual(Object.keys(r.json as object), ['code', 'description'], what);
  const retryAfter = r.headers.get('retry-after') ?? '';
  assert.match(retryAfter, /^[1-9][0-9]*$/, `${what}: Retry-After in whole seconds`);
  assert.equal(Number(retryAfter), expect.retryAfter, `${what}: Retry-After`);
  assert.equal(r.headers.get('ratelimit-limit'), String(expect.limit), `${what}: RateLimit-Limit`);
  assert.equal(r.headers.get('ratelimit-remaining'), '0', `${what}: RateLimit-Remaining`);
  assert.equal(r.headers.get('ratelimit-reset'), String(expect.reset), `${what}: RateLimit-Reset`);
}

async function janesCredentials(server: TestServer): Promise<Credential[]> {
  return server.store.credentialsOfUserDevice(JANE, DEVICE);
}

async function auditCount(server: TestServer): Promise<number> {
  await server.store.flush();
  return (await server.store.audit()).length;
}

describe('per-key limit: 3 calls a minute', () => {
  const clock = manualClock(T0);
  let server: TestServer;
  before(async () => {
    server = await startServer({ demo: true, clock, rateLimits: { perKey: { capacity: 3, windowSeconds: 60 }, perAddress: GENEROUS } });
  });
  after(() => server.close());

  test('three calls pass with RateLimit-* headers, the fourth is a 429 that changes nothing', async () => {
    const body = { deviceSerialNumber: DEVICE, userId: JANE };
    const calls = ['enable', 'disable', 'enable'];
    for (const [i, verb] of calls.entries()) {
      const r = await server.request('PATCH', `/v1/ds100/${verb}/otp`, body);
      assert.equal(r.status, 200, `call ${i + 1}: ${r.text}`);
      assert.equal(r.headers.get('ratelimit-limit'), '3');
      assert.equal(r.headers.get('ratelimit-remaining'), String(2 - i));
      assert.match(r.headers.get('ratelimit-reset') ?? '', /^[0-9]+$/);
      assert.equal(r.headers.get('retry-after'), null, 'no Retry-After on an allowed call');
    }
    const credentialsBefore = await janesCredentials(server);
    assert.equal(credentialsBefore[0]?.tokenStatus, 'Enabled');
    const eventsBefore = await auditCount(server);

    // 3 tokens a minute: the next one is 20 s away, the bucket is full again in 60 s.
    const refused = await server.request('PATCH', '/v1/ds100/disable/otp', body);
    assert429(refused, { limit: 3, retryAfter: 20, reset: 60 }, 'fourth call');

    assert.deepEqual(await janesCredentials(server), credentialsBefore, 'the refused disable changed nothing');
    await server.store.flush();
    const events = (await server.store.audit()).slice(eventsBefore);
    assert.equal(events.length, 1, `exactly one new audit event: ${JSON.stringify(events)}`);
    assert.equal(events[0]!.outcome, 'rate_limited');
    assert.equal(events[0]!.status, 429);
    assert.equal(events[0]!.operation, 'ds100.disable');
    assert.equal(events[0]!.subject, server.keys.HelpDeskAdmin.keyFile.accessID, 'the per-key refusal knows the key');
  });

  test('every operation is refused while the bucket is empty, and none changes the store', async () => {
    const before = {
      jane: await janesCredentials(server),
      john: await server.store.credentialsOfUserDevice(JOHN, DEVICE),
    };
    const eventsBefore = await auditCount(server);
    const calls: Array<[string, string, unknown]> = [
      ['PATCH', '/v1/ds100/disable/otp', { deviceSerialNumber: DEVICE, userId: JANE }],
      ['PATCH', '/v1/ds100/enable/otp', { deviceSerialNumber: DEVICE, userId: JOHN }],
      ['DELETE', '/v1/ds100/delete/otp', { tokenSerialNumber: '014010008038', deviceSerialNumber: DEVICE, userId: JOHN }],
      ['PATCH', '/v1/ds100/clearPin/otp', { tokenSerialNumber: '014010008039', userId: JOHN }],
      ['POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }],
      ['POST', '/v1/users/lookup', { email: 'jane.doe@example.com' }],
    ];
    for (const [method, path, body] of calls) {
      assert429(await server.request(method, path, body), { limit: 3, retryAfter: 20, reset: 60 }, `${method} ${path}`);
    }
    assert.deepEqual(await janesCredentials(server), before.jane);
    assert.deepEqual(await server.store.credentialsOfUserDevice(JOHN, DEVICE), before.john);
    await server.store.flush();
    const events = (await server.store.audit()).slice(eventsBefore);
    assert.deepEqual(
      events.map((e) => e.outcome),
      calls.map(() => 'rate_limited'),
    );
  });

  test("another key's bucket is its own", async () => {
    const r = await server.request('PATCH', '/v1/ds100/disable/otp', { deviceSerialNumber: DEVICE, userId: JANE }, { role: 'SuperAdmin' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('ratelimit-remaining'), '2');
  });

  test('buckets refill with time: one call per 20 s, never more than the capacity', async () => {
    const lookup = (token: string) => server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { token });
    const key = server.keys.ReadOnly;
    let token = await server.sign({ key });
    for (let i = 0; i < 3; i++) assert.equal((await lookup(token)).status, 200, `call ${i + 1}`);
    assert429(await lookup(token), { limit: 3, retryAfter: 20, reset: 60 }, 'empty');

    clock.advance(19_000);
    assert429(await lookup(token), { limit: 3, retryAfter: 1, reset: 41 }, '19 s later');
    clock.advance(1_000);
    const refilled = await lookup(token);
    assert.equal(refilled.status, 200, '20 s later: one token back');
    assert.equal(refilled.headers.get('ratelimit-remaining'), '0');
    assert.equal((await lookup(token)).status, 429, 'and only one');

    // A long pause refills to the capacity, not beyond.
    clock.advance(300_000);
    token = await server.sign({ key });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await lookup(token)).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  });

  test('a client that waits Retry-After seconds is let through', async () => {
    const key = server.keys.SuperAdmin;
    clock.advance(120_000);
    const token = await server.sign({ key });
    const lookup = () => server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { token });
    let r = await lookup();
    for (let i = 0; i < 10 && r.status === 200; i++) r = await lookup();
    assert.equal(r.status, 429);
    for (let round = 0; round < 3; round++) {
      clock.advance(Number(r.headers.get('retry-after')) * 1000);
      r = await lookup();
      assert.equal(r.status, 200, `round ${round}`);
      r = await lookup();
      assert.equal(r.status, 429, `round ${round}: only one call came back`);
    }
  });

  test('a clock stepped back does not lock a key out', async () => {
    const key = server.keys.HelpDeskAdmin;
    clock.advance(600_000);
    const token = await server.sign({ key });
    const lookup = () => server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { token });
    assert.equal((await lookup()).status, 200);
    clock.advance(-30_000); // NTP steps the clock back half a minute
    assert.equal((await lookup()).status, 200, 'the bucket still had tokens');
    clock.advance(60_000);
    assert.equal((await lookup()).status, 200, 'and refills as before');
  });
});

describe('per-address limit: 5 calls a minute, taken before the token', () => {
  const clock = manualClock(T0);
  let server: TestServer;
  before(async () => {
    server = await startServer({ demo: true, clock, rateLimits: { perKey: GENEROUS, perAddress: { capacity: 5, windowSeconds: 60 } } });
  });
  after(() => server.close());

  test('a flood of bad tokens gets 403 up to the limit, then 429 without a signature check', async () => {
    const good = await server.sign();
    const [h, p, s] = good.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig.writeUInt8(sig.readUInt8(0) ^ 0xff, 0);
    const forged = `${h}.${p}.${sig.toString('base64url')}`; // a known sub, a bad signature: costs a check
    const lookup = (token: string) => server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { token });

    for (let i = 0; i < 5; i++) assert.equal((await lookup(forged)).status, 403, `bad token ${i + 1}`);
    const checks = server.app.verifier.stats().signatureChecks;
    assert.equal(checks, 5, 'each of the five was checked');

    for (let i = 0; i < 20; i++) assert429(await lookup(forged), { limit: 5, retryAfter: 12, reset: 60 }, `flood ${i + 1}`);
    assert.equal(server.app.verifier.stats().signatureChecks, checks, 'no signature checked once over the address limit');

    // A good token from the same address waits too: the address is over its limit.
    assert429(await lookup(good), { limit: 5, retryAfter: 12, reset: 60 }, 'good token, same address');
    const missing = await server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, { authorization: null });
    assert429(missing, { limit: 5, retryAfter: 12, reset: 60 }, 'no Authorization at all');

    await server.store.flush();
    const limited = (await server.store.audit()).filter((e) => e.outcome === 'rate_limited');
    assert.equal(limited.length, 22);
    assert.ok(limited.every((e) => e.subject === null && e.status === 429), 'the per-address refusal knows no subject');
  });

  test('the address bucket refills with time', async () => {
    const lookup = () => server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE });
    assert.equal((await lookup()).status, 429);
    clock.advance(12_000);
    assert.equal((await lookup()).status, 200, 'one call back after 12 s');
    assert.equal((await lookup()).status, 429);
  });
});

/**
 * Behind proxies (`serve --trust-proxy`): the test's own socket (127.0.0.1) plays the proxy
 * nearest the server; the entries left of what the proxies appended are the client's to write.
 */
describe('per-address limit behind a proxy: 20 calls a minute', () => {
  const CLIENT = '198.51.100.7';
  const limits = { perKey: GENEROUS, perAddress: { capacity: 20, windowSeconds: 60 } };
  // A stopped clock: on a loaded machine the 60 calls can take the 3 s in which a bucket of 20 a
  // minute refills one call, and the count would read 21.
  const startServer = (options: Parameters<typeof startTestServer>[0]) => startTestServer({ clock: manualClock(Date.now()), ...options });
  const lookup = (server: TestServer, forwardedFor?: string) =>
    server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE }, forwardedFor === undefined ? {} : { headers: { 'x-forwarded-for': forwardedFor } });

  /** 60 calls whose left-most X-Forwarded-For entry changes every time: how many passed, and the addresses the trail holds. */
  async function rotate(server: TestServer, chain: (i: number) => string): Promise<{ passed: number; addresses: Set<string | null> }> {
    const eventsBefore = await auditCount(server);
    let passed = 0;
    for (let i = 0; i < 60; i++) if ((await lookup(server, chain(i))).status === 200) passed++;
    await server.store.flush();
    return { passed, addresses: new Set((await server.store.audit()).slice(eventsBefore).map((e) => e.clientAddress)) };
  }

  const cases: Array<[string, number | string[]]> = [
    ['a hop count (--trust-proxy 1)', 1],
    ['the proxy addresses (--trust-proxy 127.0.0.1)', ['127.0.0.1']],
    ['the proxy ranges (--trust-proxy 10.0.0.0/8,loopback)', ['10.0.0.0/8', 'loopback']],
  ];
  for (const [name, trustProxy] of cases) {
    test(`${name}: rotating the forged left-most entry does not walk past the limit, nor reach the trail`, async () => {
      const server = await startServer({ demo: true, rateLimits: limits, trustProxy });
      try {
        const { passed, addresses } = await rotate(server, (i) => `203.0.113.${i}, ${CLIENT}`);
        assert.equal(passed, 20, 'the client the proxy saw has one bucket');
        assert.deepEqual([...addresses], [CLIENT], 'the trail names the address the proxy appended, never a forged one');
      } finally {
        await server.close();
      }
    });
  }

  test('an entry that is not an IP address is never taken for the client: the socket address is', async () => {
    const server = await startServer({ demo: true, rateLimits: limits, trustProxy: 1 });
    try {
      const { passed, addresses } = await rotate(server, (i) => (i % 2 ? `<script>${i}` : `${CLIENT}:${1000 + i}`));
      assert.equal(passed, 20);
      assert.deepEqual([...addresses], ['127.0.0.1']);
    } finally {
      await server.close();
    }
  });

  test('X-Forwarded-For from a peer that is not a trusted proxy, or with no --trust-proxy, is ignored', async () => {
    for (const trustProxy of [['192.0.2.1'], undefined]) {
      const server = await startServer({ demo: true, rateLimits: limits, ...(trustProxy ? { trustProxy } : {}) });
      try {
        const { passed, addresses } = await rotate(server, (i) => `203.0.113.${i}, ${CLIENT}`);
        assert.equal(passed, 20, String(trustProxy));
        assert.deepEqual([...addresses], ['127.0.0.1'], String(trustProxy));
      } finally {
        await server.close();
      }
    }
  });
});
