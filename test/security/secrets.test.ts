/**
 * Suite 7 of issue 6: secrets. The real server process (`bin/ds100-admin.js serve --log-level
 * debug`) is run with its stdout and stderr captured to a file, every endpoint is called (good
 * calls, refused tokens, a role refusal, every kind of error), and then:
 * - the logs and the raw bytes of the database (.db, -wal, -shm, while running and after a
 *   clean stop) hold no private key ('PRIVATE KEY', any line of an accessKey), no bearer token
 *   used in the run (nor its signature), and no PIN or other secret a careless client sent;
 * - the data folder and the keys folder are 0700, key files and database files 0600;
 * - every answer carries `Cache-Control: no-store` and no `X-Powered-By`.
 * Controls show the search would find what it looks for: the public keys are in the database and
 * the log holds the refusals.
 */
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { KeyFile } from '../../src/auth/keyfile.ts';
import { SQLITE_FILE } from '../../src/store/open.ts';
import { tempDir } from '../support/stores.ts';
import { ALEX, DEVICE, JANE, JOHN, REST, b64url, jws, rawRequest, type RawReply } from '../support/attacks.ts';

const BIN = new URL('../../bin/ds100-admin.js', import.meta.url).pathname;
const DEADLINE_MS = 20_000;
const PIN = '739184';
const PIN_MARKER = `PIN-${PIN}-SECRET`;

const dir = tempDir('ds100-secrets-');
const data = join(dir.path, 'data');
const logFile = join(dir.path, 'server.log');
let child: ChildProcess | undefined;
let port = 0;
let baseUrl = '';
const keyFiles: Array<{ path: string; file: KeyFile; key: KeyObject }> = [];
/** Every bearer token this run sent, good or refused. */
const tokensUsed = new Set<string>();
const replies: Array<{ what: string; status: number | null; headers: Record<string, string> }> = [];
const exited = { code: null as number | null, signal: null as string | null };
/** What /metrics answered at the end of the run: public, so it must hold no secret either. */
let metricsText = '';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

async function waitForLog(pattern: RegExp): Promise<RegExpExecArray> {
  for (let i = 0; i < DEADLINE_MS / 50; i++) {
    const m = pattern.exec(log());
    if (m) return m;
    if (child?.exitCode !== null && child?.exitCode !== undefined) break;
    await sleep(50);
  }
  throw new Error(`the server did not print ${pattern}; its output:\n${log()}`);
}

function cli(...args: string[]): Promise<string> {
  return promisify(execFile)(process.execPath, [BIN, ...args, '--data', data], { timeout: DEADLINE_MS }).then((r) => r.stdout);
}

function loadKey(path: string): void {
  const file = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
  keyFiles.push({ path, file, key: createPrivateKey(file.accessKey) });
}

before(async () => {
  const fd = openSync(logFile, 'w', 0o600);
  child = spawn(process.execPath, [BIN, 'serve', '--data', data, '--port', '0', '--demo', '--log-level', 'debug'], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.on('exit', (code, signal) => Object.assign(exited, { code, signal }));
  const listening = await waitForLog(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
  port = Number(listening[1]);
  baseUrl = `http://127.0.0.1:${port}`;
  loadKey((await waitForLog(/bootstrap SuperAdmin key file: (\S+)/))[1]!);
  // Keys of the other roles, made with the CLI while the server runs, as an operator would.
  loadKey((await cli('keys', 'create', '--role', 'HelpDeskAdmin', '--public-url', baseUrl)).trim());
  loadKey((await cli('keys', 'create', '--role', 'ReadOnly', '--public-url', baseUrl)).trim());
});

after(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  if (process.env.KEEP_SECRETS_DIR) console.log(`# kept ${dir.path}`);
  else dir.dispose();
});

function token(k: { file: KeyFile; key: KeyObject }, over: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const t = jws({ alg: 'RS256', typ: 'JWT' }, { sub: k.file.accessID, iat: now, exp: now + 600, aud: `${baseUrl}${REST}`, ...over }, k.key);
  tokensUsed.add(t);
  return t;
}

async function call(
  what: string,
  method: string,
  path: string,
  o: { token?: string; authorization?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<RawReply> {
  const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  const headers: Record<string, string> = { Host: `127.0.0.1:${port}`, Connection: 'close', ...o.headers };
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  if (o.authorization) headers.Authorization = o.authorization;
  if (body !== undefined) {
    headers['Content-Type'] ??= 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(body));
  }
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  const reply = await rawRequest(port, head + (body ?? ''), { timeoutMs: DEADLINE_MS });
  replies.push({ what, status: reply.status, headers: reply.headers });
  return reply;
}

test('a full run: every endpoint, good calls, refused tokens and every kind of error', async () => {
  const [superAdmin, helpDesk, readOnly] = keyFiles as [(typeof keyFiles)[0], (typeof keyFiles)[0], (typeof keyFiles)[0]];
  const good = token(superAdmin);
  const desk = token(helpDesk);
  const ro = token(readOnly);
  const expect = async (status: number, r: Promise<RawReply>) => assert.equal((await r).status, status);

  // The six operations, answered.
  await expect(200, call('lookup', 'POST', `${REST}/v1/ds100/lookup`, { token: ro, body: { deviceSerialNumber: DEVICE } }));
  await expect(200, call('user lookup', 'POST', `${REST}/v1/users/lookup`, { token: ro, body: { email: 'jane.doe@example.com', searchUnsynched: false } }));
  await expect(200, call('enable', 'PATCH', `${REST}/v1/ds100/enable/otp`, { token: desk, body: { deviceSerialNumber: DEVICE, userId: JANE } }));
  await expect(200, call('disable', 'PATCH', `${REST}/v1/ds100/disable/otp`, { token: good, body: { deviceSerialNumber: DEVICE, userId: ALEX } }));
  await expect(200, call('clear PIN', 'PATCH', `${REST}/v1/ds100/clearPin/otp`, { token: desk, body: { tokenSerialNumber: '014010008039', userId: JOHN } }));
  await expect(200, call('delete', 'DELETE', `${REST}/v1/ds100/delete/otp`, { token: good, body: { tokenSerialNumber: '014010008038', deviceSerialNumber: DEVICE, userId: JOHN } }));
  await expect(200, call('healthz', 'GET', '/healthz'));
  await expect(200, call('readyz', 'GET', '/readyz'));
  await expect(200, call('openapi', 'GET', `${REST}/openapi.json`));
  const metrics = await call('metrics', 'GET', '/metrics');
  assert.equal(metrics.status, 200);
  metricsText = metrics.body.toString();

  // Refused tokens: expired, forged, of an unknown sub, alg none, malformed; a role that may not write.
  const forged = token(readOnly, { sub: superAdmin.file.accessID });
  const expired = token(superAdmin, { iat: 1_600_000_000, exp: 1_600_000_600 });
  const none = `${b64url({ alg: 'none' })}.${b64url({ sub: superAdmin.file.accessID })}.`;
  tokensUsed.add(none);
  for (const [what, t] of [['forged', forged], ['expired', expired], ['alg none', none], ['unknown sub', token(readOnly, { sub: 'no-such-key' })]] as const) {
    await expect(403, call(`refused: ${what}`, 'PATCH', `${REST}/v1/ds100/disable/otp`, { token: t, body: { deviceSerialNumber: DEVICE, userId: JANE } }));
  }
  await expect(403, call('no Authorization', 'POST', `${REST}/v1/ds100/lookup`, { body: { deviceSerialNumber: DEVICE } }));
  await expect(403, call('Basic', 'POST', `${REST}/v1/ds100/lookup`, { authorization: `Basic ${Buffer.from(`admin:${PIN_MARKER}`).toString('base64')}`, body: { deviceSerialNumber: DEVICE } }));
  await expect(403, call('role', 'PATCH', `${REST}/v1/ds100/disable/otp`, { token: ro, body: { deviceSerialNumber: DEVICE, userId: JANE } }));

  // A deleted key's token, while the server runs.
  const deleted = token(readOnly, { jti: 'before-delete' });
  await expect(200, call('before delete', 'POST', `${REST}/v1/ds100/lookup`, { token: deleted, body: { deviceSerialNumber: DEVICE } }));
  await cli('keys', 'delete', readOnly.file.accessID);
  await expect(403, call('after delete', 'POST', `${REST}/v1/ds100/lookup`, { token: deleted, body: { deviceSerialNumber: DEVICE } }));

  // Errors, with secrets where a careless client puts them: a pin property, a query string, a header, a key file as the body.
  await expect(400, call('pin property', 'PATCH', `${REST}/v1/ds100/clearPin/otp`, { token: desk, body: { tokenSerialNumber: '014010008039', userId: JOHN, pin: PIN_MARKER } }));
  await expect(400, call('key file as body', 'POST', `${REST}/v1/ds100/lookup`, { token: desk, body: { deviceSerialNumber: DEVICE, accessKey: superAdmin.file.accessKey } }));
  await expect(404, call('pin in the query', 'GET', `${REST}/v1/nothing?pin=${PIN_MARKER}`, { token: desk }));
  await expect(200, call('pin in a header', 'POST', `${REST}/v1/ds100/lookup?pin=${PIN_MARKER}`, { token: desk, body: { deviceSerialNumber: DEVICE }, headers: { 'X-Pin': PIN_MARKER } }));
  await expect(400, call('bad JSON', 'POST', `${REST}/v1/ds100/lookup`, { token: desk, raw: `{"deviceSerialNumber": "${PIN_MARKER}`, headers: {} }));
  await expect(400, call('not JSON at all', 'POST', `${REST}/v1/users/lookup`, { token: desk, raw: `${PIN_MARKER} ${superAdmin.file.accessKey}` }));
  await expect(400, call('text/plain', 'POST', `${REST}/v1/ds100/lookup`, { token: desk, raw: PIN_MARKER, headers: { 'Content-Type': 'text/plain' } }));
  await expect(404, call('unknown user', 'PATCH', `${REST}/v1/ds100/enable/otp`, { token: desk, body: { deviceSerialNumber: DEVICE, userId: 'no-such-user' } }));
  await expect(413, call('too large', 'POST', `${REST}/v1/ds100/lookup`, { token: desk, raw: JSON.stringify({ deviceSerialNumber: PIN_MARKER.repeat(1200) }) }));
  await expect(431, call('huge headers', 'GET', '/healthz', { token: good, headers: { 'X-Huge': PIN_MARKER.repeat(1200) } }));
  await expect(400, call('bad URL', 'GET', `${REST}/%zz?pin=${PIN_MARKER}`, { token: good }));
  await expect(400, call('NUL in a header', 'GET', '/healthz', { token: good, headers: { 'X-Pin': `${PIN_MARKER}\u0000` } }));
  await expect(417, call('Expect', 'POST', `${REST}/v1/ds100/lookup`, { token: good, body: { deviceSerialNumber: DEVICE }, headers: { Expect: PIN_MARKER } }));
});

test('every answer carries Cache-Control: no-store and no X-Powered-By', () => {
  assert.ok(replies.length >= 30, `only ${replies.length} answers`);
  for (const r of replies) {
    assert.ok(r.status !== null, `${r.what}: no answer`);
    assert.equal(r.headers['cache-control'], 'no-store', `${r.what} (${r.status}): Cache-Control ${r.headers['cache-control']}`);
    assert.equal(r.headers['x-powered-by'], undefined, `${r.what}: X-Powered-By`);
  }
});

test('the data folder is 0700, the keys folder 0700, key files and the database 0600', () => {
  const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
  assert.equal(mode(data), '700', 'data folder');
  assert.equal(mode(join(data, 'keys')), '700', 'keys folder');
  const keys = readdirSync(join(data, 'keys'));
  assert.equal(keys.length, 3, `key files: ${keys.join(', ')}`);
  for (const k of keys) assert.equal(mode(join(data, 'keys', k)), '600', `key file ${k}`);
  const dbFiles = readdirSync(data).filter((f) => f.startsWith(SQLITE_FILE));
  assert.ok(dbFiles.includes(SQLITE_FILE) && dbFiles.includes(`${SQLITE_FILE}-wal`), `database files: ${dbFiles.join(', ')}`);
  for (const f of dbFiles) assert.equal(mode(join(data, f)), '600', f);
});

/** The strings that must appear nowhere: key material, every token, the PIN. */
function secrets(): Array<[string, string]> {
  const list: Array<[string, string]> = [['PRIVATE KEY', 'PRIVATE KEY'], [PIN_MARKER, 'the PIN marker'], [PIN, 'the PIN']];
  for (const { file } of keyFiles) {
    const body = file.accessKey.split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const line of body) list.push([line, `a line of the accessKey of ${file.accessID}`]);
    list.push([body.join(''), 'an accessKey body']);
  }
  for (const t of tokensUsed) {
    list.push([t, `a bearer token (${t.slice(0, 24)}...)`]);
    const signature = t.split('.')[2];
    if (signature) list.push([signature, 'a token signature']);
  }
  return list;
}

function assertClean(where: string, bytes: Buffer): void {
  const texts = [bytes.toString('latin1'), bytes.toString('utf8')];
  for (const [secret, what] of secrets()) {
    for (const text of texts) assert.ok(!text.includes(secret), `${where} holds ${what}`);
  }
}

const databaseBytes = (): Array<[string, Buffer]> =>
  readdirSync(data)
    .filter((f) => f.startsWith(SQLITE_FILE))
    .map((f) => [f, readFileSync(join(data, f))]);

test('while running: the logs and the database hold no key, token or PIN', () => {
  const files = databaseBytes();
  const all = Buffer.concat(files.map(([, b]) => b)).toString('latin1');
  // Controls: the search looks at the right bytes.
  assert.ok(all.includes('BEGIN PUBLIC KEY'), 'the public keys are in the database');
  assert.ok(all.includes('ds100.disable') && all.includes('denied'), 'the audit trail is in the database');
  assert.ok(log().includes('access token refused'), 'the log holds the refusals (and so was captured)');
  assert.ok(log().includes('"level":20'), 'debug lines were logged');
  for (const [f, b] of files) assertClean(f, b);
  assertClean('the server log', readFileSync(logFile));
});

test('/metrics, which answers without a token, holds no key, token or PIN', async () => {
  const again = await call('metrics at the end', 'GET', '/metrics');
  assert.equal(again.status, 200);
  assert.ok(again.body.toString().includes('# TYPE'), 'the metrics were read');
  assertClean('/metrics (during the run)', Buffer.from(metricsText));
  assertClean('/metrics (after the run)', again.body);
});

test('after a clean stop: the logs and the database still hold none of them', async () => {
  child!.kill('SIGTERM');
  for (let i = 0; i < DEADLINE_MS / 50 && exited.code === null && exited.signal === null; i++) await sleep(50);
  assert.equal(exited.code, 0, `the server stopped with ${exited.code ?? exited.signal}: ${log().slice(-500)}`);
  const files = databaseBytes();
  assert.ok(files.length > 0);
  for (const [f, b] of files) {
    assert.equal((statSync(join(data, f)).mode & 0o777).toString(8), '600', f);
    assertClean(`${f} (stopped)`, b);
  }
  assertClean('the server log (stopped)', readFileSync(logFile));
  const searched = files.reduce((n, [, b]) => n + b.length, 0) + readFileSync(logFile).length;
  console.log(`# secrets: ${replies.length} answers; ${secrets().length} secrets (${tokensUsed.size} tokens) searched for in ${searched} bytes of log and database`);
  // The key files themselves are where the private keys are, and only there.
  for (const { path } of keyFiles.slice(0, 2)) assert.ok(readFileSync(path, 'utf8').includes('PRIVATE KEY'));
});
