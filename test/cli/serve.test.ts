/**
 * `ds100-admin serve` as a real process on an empty data folder: it creates the database and one
 * bootstrap SuperAdmin key file (0600, in a 0700 folder) and prints its path; `--public-url` is
 * what the key file names and what `aud` is checked against; `--demo` loads the vendor examples'
 * directory; SIGTERM ends it with exit code 0. A start that fails (the port taken, the data folder
 * held by another server) ends the process with one line and a non-zero exit code; a write lock
 * held by another process delays writes without holding up the rest.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { SQLITE_FILE, openStore } from '../../src/store/open.ts';
import { tempDir } from '../support/stores.ts';
import { API, callApi, readKeyFile, runCli, startServe, stopServe, tokenFromKeyFile, type ServeProcess } from '../support/serve-process.ts';

let server: ServeProcess | undefined;
const data = tempDir('ds100-serve-');
const held = tempDir('ds100-serve-held-');
after(async () => {
  await stopServe(server);
  data.dispose();
  held.dispose();
});

const JANE = { deviceSerialNumber: '140100080', userId: 'ece30fe9-414c-7536-5403-0656220b3046' };

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

test('keys create beside a server writes the public URL the server runs with, and warns of another one', async () => {
  const folder = tempDir('ds100-serve-url-');
  const beside = await startServe(['--data', folder.path, '--port', '0', '--public-url', 'https://admin.example.com', '--log-level', 'warn']);
  try {
    const made = await runCli(['keys', 'create', '--role', 'ReadOnly', '--data', folder.path]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(made.stderr, '', "no warning when the URL is the server's");
    const path = made.stdout.trim();
    assert.equal(readKeyFile(path).adminRestApiUrl, `https://admin.example.com${API}`);
    const token = await tokenFromKeyFile(path, 'https://admin.example.com');
    assert.equal((await callApi(beside.url, token, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: '140100080' })).status, 404, 'the key works: 404 for an unknown device, not 403');

    const other = await runCli(['keys', 'create', '--role', 'ReadOnly', '--data', folder.path, '--public-url', 'https://elsewhere.example.com']);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stderr, /warning: --public-url https:\/\/elsewhere\.example\.com is not the URL the server runs with \(https:\/\/admin\.example\.com\)/);
    assert.equal(readKeyFile(other.stdout.trim()).adminRestApiUrl, `https://elsewhere.example.com${API}`, 'what the operator asked for, warned');
  } finally {
    await stopServe(beside);
    folder.dispose();
  }
});

test('a serve that cannot listen exits 1 with one line, and leaves the data folder free (the next test starts on it)', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const port = (taken.address() as AddressInfo).port;
    const failed = await runCli(['serve', '--data', held.path, '--port', String(port), '--log-level', 'warn'], { timeoutMs: 30_000 });
    assert.equal(failed.signal, null, `ends by itself: ${failed.stderr}`);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, new RegExp(`^ds100-admin: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}\n$`));
  } finally {
    taken.close();
  }
});

test('one server per data folder: a second serve exits 1 naming the folder; commands still run beside; SIGKILL frees it', async () => {
  server = await startServe(['--data', held.path, '--port', '0', '--log-level', 'warn']);
  const second = await runCli(['serve', '--data', held.path, '--port', '0', '--log-level', 'warn'], { timeoutMs: 30_000 });
  assert.equal(second.signal, null, `ends by itself: ${second.stdout}${second.stderr}`);
  assert.equal(second.code, 1);
  assert.equal(second.stdout, '');
  assert.equal(second.stderr, `ds100-admin: another ds100-admin server is running on the data folder ${held.path} (it holds ${join(held.path, 'ds100-admin.lock')})\n`);
  const listed = await runCli(['keys', 'list', '--data', held.path]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /SuperAdmin/);
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the first server still serves');

  server.child.kill('SIGKILL');
  await server.exited;
  server = await startServe(['--data', held.path, '--port', '0', '--log-level', 'warn']);
  await stopServe(server);
});

test('while another process holds the write lock, the server answers, and a change waits for the lock', async () => {
  const folder = tempDir('ds100-serve-busy-');
  let holder: Database.Database | undefined;
  try {
    server = await startServe(['--data', folder.path, '--port', '0', '--demo', '--log-level', 'warn']);
    const token = await tokenFromKeyFile(server.bootstrapKeyFile!, server.url);
    holder = new Database(join(folder.path, SQLITE_FILE));
    holder.exec('BEGIN IMMEDIATE');
    let answered = false;
    const enable = callApi(server.url, token, 'PATCH', '/v1/ds100/enable/otp', JANE).finally(() => (answered = true));
    await sleep(500); // for the enable to reach the lock (a wait, not an assertion)
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    const lookup = await callApi(server.url, token, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: JANE.deviceSerialNumber });
    assert.equal(lookup.status, 200, 'reads are answered meanwhile');
    assert.equal(answered, false, 'the enable still waits for the lock');
    holder.exec('COMMIT');
    const enabled = await enable;
    assert.equal(enabled.status, 200, enabled.text);
    assert.equal(((enabled.json as Array<{ tokenStatus: string }>)[0])?.tokenStatus, 'Enabled');
  } finally {
    if (holder?.inTransaction) holder.exec('COMMIT');
    holder?.close();
    await stopServe(server);
    folder.dispose();
  }
});
