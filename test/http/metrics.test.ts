/**
 * `/metrics` (Prometheus text): requests and latency by route pattern and status, rate-limit
 * refusals by scope, and the database pool where the store has one. Needs no token and leaves no
 * audit event. Runs on each store (TEST_STORE).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer, type TestServer } from '../support/server.ts';

const ENABLE = { deviceSerialNumber: '140100080', userId: 'ece30fe9-414c-7536-5403-0656220b3046' };

let server: TestServer;
before(async () => {
  server = await startServer({
    demo: true,
    rateLimits: { perKey: { capacity: 2, windowSeconds: 3600 }, perAddress: { capacity: 1_000_000, windowSeconds: 60 } },
  });
});
after(() => server.close());

async function metrics(): Promise<string> {
  const res = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

test('requests, latency and refusals are counted by route and status', async () => {
  const auditBefore = (await server.store.audit()).length;
  for (let i = 0; i < 3; i++) await server.request('PATCH', '/v1/ds100/enable/otp', ENABLE);
  await server.request('GET', '/no/such/route');
  const text = await metrics();
  const route = '/AdminInterface/restapi/v1/ds100/enable/otp';
  assert.match(text, new RegExp(`ds100_http_requests_total\\{method="PATCH",route="${route}",status="200"\\} 2\\n`));
  assert.match(text, new RegExp(`ds100_http_requests_total\\{method="PATCH",route="${route}",status="429"\\} 1\\n`));
  assert.match(text, new RegExp(`ds100_http_request_duration_seconds_count\\{method="PATCH",route="${route}",status="200"\\} 2\\n`));
  // An unknown path is one label value, whatever the path: no label per URL.
  assert.match(text, /ds100_http_requests_total\{method="GET",route="unmatched",status="404"\} 1\n/);
  assert.match(text, /ds100_rate_limit_refusals_total\{scope="key"\} 1\n/);
  await server.store.flush();
  // Three API calls audited; the 404 route and /metrics are not API operations.
  assert.equal((await server.store.audit()).length - auditBefore, 3);
});

test('the database pool is reported where the store has one', async () => {
  const text = await metrics();
  if (server.store.engine === 'postgres') {
    assert.match(text, /ds100_db_pool_connections\{state="total"\} \d+\n/);
    assert.match(text, /ds100_db_pool_connections\{state="idle"\} \d+\n/);
    assert.match(text, /ds100_db_pool_connections\{state="waiting"\} 0\n/);
    assert.match(text, /ds100_db_pool_max \d+\n/);
  } else {
    assert.doesNotMatch(text, /ds100_db_pool_connections/);
  }
  // Process metrics are for `serve`; a test server leaves them out.
  assert.doesNotMatch(text, /process_cpu_seconds_total/);
});
