/**
 * `ds100-admin serve` as a real process on an empty data folder: it creates the database and one
 * bootstrap SuperAdmin key file (0600, in a 0700 folder) and prints its path; `--public-url` is
 * what the key file names and what `aud` is checked against; `--demo` loads the vendor examples'
 * directory; SIGTERM ends it with exit code 0.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SQLITE_FILE, openStore } from '../../src/store/open.ts';
import { tempDir } from '../helpers/stores.ts';
import { API, callApi, readKeyFile, startServe, stopServe, tokenFromKeyFile, type ServeProcess } from './serve-process.ts';

let server: ServeProcess | undefined;
const data = tempDir('ds100-serve-');
after(async () => {
  await stopServe(server);
  data.dispose();
});

test('serve on an empty folder: bootstrap key, --public-url, --demo, SIGTERM', async () => {
  server = await startServe(['--data', data.path, '--port', '0', '--public-url', 'https://admin.example.com/', '--demo', '--log-level', 'warn']);
  const path = server.bootstrapKeyFile;
  assert.ok(path, `the bootstrap key file is printed: ${server.lines.join('\n')}`);
  assert.equal(join(path, '..'), join(data.path, 'keys'));
  assert.deepEqual(readdirSync(join(data.path, 'keys')), [`${readKeyFile(path).accessID}.key`], 'one key file');
  assert.equal(statSync(path).mode & 0o777, 0o600, 'key file mode');
  assert.equal(statSync(join(data.path, 'keys')).mode & 0o777, 0o700, 'keys folder mode');
  assert.equal(statSync(join(data.path, SQLITE_FILE)).mode & 0o777, 0o600, 'database file mode');

  const keyFile = readKeyFile(path);
  assert.equal(keyFile.adminRestApiUrl, `https://admin.example.com${API}`, 'the public URL, without its trailing slash');
  assert.match(keyFile.accessKey, /^-----BEGIN RSA PRIVATE KEY-----/);

  // aud is checked against the public URL, not the address the server happens to listen on.
  const viaPublicUrl = await tokenFromKeyFile(path, 'https://admin.example.com');
  const lookup = await callApi(server.url, viaPublicUrl, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: '140100080' });
  assert.equal(lookup.status, 200, lookup.text);
  assert.equal((lookup.json as unknown[]).length, 4, 'the demo directory: four OTP credentials on device 140100080');
  const viaListenAddress = await tokenFromKeyFile(path, server.url);
  assert.equal((await callApi(server.url, viaListenAddress, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: '140100080' })).status, 403);

  server.child.kill('SIGTERM');
  assert.deepEqual(await server.exited, { code: 0, signal: null });

  const store = await openStore({ dataDir: data.path });
  try {
    const keys = await store.apiKeys();
    assert.deepEqual(keys.map((k) => [k.accessId, k.role]), [[keyFile.accessID, 'SuperAdmin']]);
    assert.ok(await store.userByEmail('jane.doe@example.com'), 'demo users loaded');
  } finally {
    await store.close();
  }
});
