import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
before(async () => {
  server = await startServer({ demo: true });
});
after(() => server.close());

test('enable answers the status items of the vendor example', async () => {
  const r = await server.request('PATCH', '/v1/ds100/enable/otp', {
    deviceSerialNumber: '140100080',
    userId: 'ece30fe9-414c-7536-5403-0656220b3046',
  });
  assert.equal(r.status, 200);
  assert.equal((r.json as Array<{ tokenStatus: string }>)[0]?.tokenStatus, 'Enabled');
});
