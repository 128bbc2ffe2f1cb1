/**
 * A database outage, played with a TCP proxy between the server and the real PostgreSQL (the
 * machine's PostgreSQL is never stopped). While the database is unreachable, `/readyz` is 503 and
 * API requests get the 500 body within the configured timeout, never a hang; afterwards `/readyz`
 * is 200 again without a restart, requests work, and the audit events of the failed requests are
 * written. Every wait in the test is bounded: a hang fails it.
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { after, before, test } from 'node:test';
import { SignJWT } from 'jose';
import { makeKeyService } from '../../src/auth/keys.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { buildApp } from '../../src/http/app.ts';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.ts';
import { seedDemo } from '../support/server.ts';
import { freshSchema } from '../support/stores.ts';
import { eventually, seeder, startTcpProxy, type TcpProxy } from '../support/scale-out.ts';

const API = '/AdminInterface/restapi';
const INTERNAL = { code: '500 INTERNAL_SERVER_ERROR', description: 'An internal error occurred.' };
const ENABLE = { deviceSerialNumber: '140100080', userId: 'ece30fe9-414c-7536-5403-0656220b3046' };
/** Bound on any one request in this test: far above the store's timeout, so only a hang reaches it. */
const REQUEST_BOUND_MS = 20_000;

let fresh: Awaited<ReturnType<typeof freshSchema>>;
let proxy: TcpProxy;
let store: PostgresStore;
let app: ReturnType<typeof buildApp>;
let url = '';
let sign: () => Promise<string>;

before(async () => {
  fresh = await freshSchema('ds100_out');
  const target = new URL(fresh.url);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(fresh.url);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  store = await openPostgresStore({ url: viaProxy.toString(), schema: fresh.schema, timeoutMs: 1000, poolSize: 3 });
  await seedDemo(store);
  app = buildApp({
    store,
    publicUrl: () => url,
    rateLimits: { perKey: { capacity: 1e6, windowSeconds: 60 }, perAddress: { capacity: 1e6, windowSeconds: 60 } },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const { keyFile } = await makeKeyService({ store, clock: systemClock, publicUrl: url }).create(seeder, 'HelpDeskAdmin', 'outage test');
  const key = createPrivateKey(keyFile.accessKey);
  sign = () => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ sub: keyFile.accessID, iat: now, exp: now + 600, aud: `${url}${API}` })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .sign(key);
  };
});

after(async () => {
  proxy?.setMode('forward');
  await app?.close();
  await store?.close().catch(() => {});
  await proxy?.close();
  await fresh?.dispose();
});

async function call(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(REQUEST_BOUND_MS),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

test('readiness and answers through a database outage and back', async (t) => {
  const token = await sign();
  assert.equal((await call('GET', '/readyz')).status, 200);
  assert.equal((await call('PATCH', `${API}/v1/ds100/enable/otp`, ENABLE, token)).status, 200);

  await t.test('the database stops answering (connections hang): 503 and 500s, no hang', async () => {
    proxy.setMode('blackhole');
    assert.deepEqual(await call('GET', '/readyz'), { status: 503, json: { status: 'unavailable', store: 'postgres' } });
    assert.deepEqual(await call('PATCH', `${API}/v1/ds100/disable/otp`, ENABLE, token), { status: 500, json: INTERNAL });
    assert.deepEqual(await call('POST', `${API}/v1/ds100/lookup`, { deviceSerialNumber: '140100080' }, token), { status: 500, json: INTERNAL });
    // /healthz needs no database: the process itself is fine.
    assert.equal((await call('GET', '/healthz')).status, 200);
  });

  await t.test('the database refuses connections: 503 and 500s, a new token is a 500, not a 403', async () => {
    proxy.setMode('reset');
    assert.equal((await call('GET', '/readyz')).status, 503);
    assert.deepEqual(await call('PATCH', `${API}/v1/ds100/disable/otp`, ENABLE, token), { status: 500, json: INTERNAL });
    // An uncached token needs its key from the database: the fault is ours, so 500.
    assert.deepEqual(await call('PATCH', `${API}/v1/ds100/disable/otp`, ENABLE, await sign()), { status: 500, json: INTERNAL });
  });

  await t.test('the database is back: ready again without a restart, and the missed audit events are written', async () => {
    proxy.setMode('forward');
    assert.ok(await eventually(async () => (await call('GET', '/readyz')).status === 200, 80, 250), '/readyz is 200 again');
    const r = await call('PATCH', `${API}/v1/ds100/disable/otp`, ENABLE, token);
    assert.equal(r.status, 200);
    assert.equal((r.json as Array<{ tokenStatus: string }>)[0]?.tokenStatus, 'Disabled');
    await store.flush();
    const errors = (await store.audit()).filter((e) => e.outcome === 'error');
    assert.deepEqual(
      errors.map((e) => [e.operation, e.status]),
      [['ds100.disable', 500], ['ds100.lookup', 500], ['ds100.disable', 500], ['ds100.disable', 500]],
      'one event per failed API call, written once the database is back',
    );
  });

  await t.test('/metrics reports the requests by route and status and the pool', async () => {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(REQUEST_BOUND_MS) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.match(text, /ds100_http_requests_total\{method="PATCH",route="\/AdminInterface\/restapi\/v1\/ds100\/disable\/otp",status="500"\} 3/);
    assert.match(text, /ds100_http_requests_total\{method="PATCH",route="\/AdminInterface\/restapi\/v1\/ds100\/disable\/otp",status="200"\} 1/);
    assert.match(text, /ds100_http_request_duration_seconds_bucket\{le="\+Inf",method="GET",route="\/readyz",status="503"\} 2/);
    assert.match(text, /ds100_db_pool_connections\{state="total"\} \d+/);
    assert.match(text, /ds100_db_pool_max 3/);
    assert.match(text, /ds100_audit_pending_events 0/);
  });
});
