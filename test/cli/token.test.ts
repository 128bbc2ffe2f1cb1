import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startServer, type TestServer } from '../support/server.ts';
import { tempDir } from '../support/stores.ts';
import { runCli } from '../support/serve-process.ts';

let server: TestServer;
const dir = tempDir('ds100-cli-token-');
let keyPath: string;
before(async () => {
  server = await startServer({ demo: true });
  keyPath = join(dir.path, 'helpdesk.key');
  writeFileSync(keyPath, JSON.stringify(server.keys.HelpDeskAdmin.keyFile), { mode: 0o600 });
});
after(async () => {
  await server.close();
  dir.dispose();
});

test('token prints a JWT that the server accepts, with the claims of spec section 2', async () => {
  const run = await runCli(['token', '--key-file', keyPath, '--lifetime', '900']);
  assert.equal(run.code, 0, run.stderr);
  const token = run.stdout.trim();
  assert.deepEqual(decodeProtectedHeader(token), { alg: 'RS256', typ: 'JWT' });
  const claims = decodeJwt(token);
  assert.equal(claims.sub, server.keys.HelpDeskAdmin.keyFile.accessID);
  assert.equal(claims.aud, server.keys.HelpDeskAdmin.keyFile.adminRestApiUrl);
  assert.equal(claims.exp! - claims.iat!, 900);

  const r = await server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: '140100080' }, { token });
  assert.equal(r.status, 200);
});

test('token refuses a lifetime beyond the spec maximum, in one line', async () => {
  const run = await runCli(['token', '--key-file', keyPath, '--lifetime', '3601']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--lifetime must be a whole number from 120 to 3600/);
  assert.equal(run.stderr.trim().split('\n').length, 1);
});
