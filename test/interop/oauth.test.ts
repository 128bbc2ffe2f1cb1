/**
 * Interop with the field's Python (contract 10) over HTTPS: test/interop/oauth_client.py, run by
 * Debian's /usr/bin/python3 with python3-jwt, python3-requests and python3-cryptography, loads a
 * JWK file made by `oauth-clients create` (RS256, then ES256), builds its assertion with PyJWT as
 * pydplus does, gets a token from a real `serve --tls-self-signed` process with certificate
 * verification on (trusting the CA file the server made), calls every endpoint of the contract's
 * table, and recovers from a 401. Like pydplus it refuses an issuer that is not https://, and
 * without the CA its handshake fails.
 * Without python3 or a module: a failure under CI=true, else a skip that says why.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { endpoints } from '../../src/contract/endpoints.ts';
import { selfSignedFiles } from '../../src/tls/self-signed.ts';
import { tempDir } from '../support/stores.ts';
import { runCli, startServe, stopServe, type ServeProcess } from '../support/serve-process.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, 'oauth_client.py');
const ALL_SCOPES = 'rsa.authenticator.ds100.manage rsa.authenticator.ds100.delete rsa.authenticator.ds100.read rsa.user.read rsa.audit.admin rsa.audit.user';
const JOHN = '87927fb7-e185-4c33-c7e3-8e077675973c';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runPython(args: string[]): Promise<Run> {
  const env = { ...process.env };
  // Only the CA file given decides whom requests trusts.
  for (const k of ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'SSL_CERT_FILE', 'SSL_CERT_DIR']) delete env[k];
  return new Promise((resolve) => {
    execFile(PYTHON, [SCRIPT, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Why the Python side cannot run here, or null when it can. */
function pythonMissing(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(PYTHON, ['-c', 'import jwt, requests, cryptography'], (error, _stdout, stderr) => {
      if (!error) resolve(null);
      else if ((error as NodeJS.ErrnoException).code === 'ENOENT') resolve(`${PYTHON} is not installed`);
      else resolve(`a module is missing: ${stderr.trim().split('\n').pop()} (apt-get install python3-jwt python3-requests python3-cryptography)`);
    });
  });
}

const missing = await pythonMissing();
if (missing && process.env.CI === 'true') throw new Error(`CI=true and the Python interop cannot run: ${missing}`);

let server: ServeProcess | undefined;
const data = tempDir('ds100-oauth-py-');
const caFile = selfSignedFiles(data.path).caFile;
before(async () => {
  if (missing) return;
  server = await startServe(['--data', data.path, '--port', '0', '--tls-self-signed', '--demo', '--log-level', 'warn']);
  assert.match(server.url, /^https:\/\//);
});
after(async () => {
  await stopServe(server);
  data.dispose();
});

/** Registers an OAuth client with every scope; its id and JWK file. */
async function createClient(alg: 'RS256' | 'ES256'): Promise<{ clientId: string; jwkFile: string }> {
  const made = await runCli(['oauth-clients', 'create', '--data', data.path, '--alg', alg, '--scope', ALL_SCOPES]);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, new RegExp(`^issuer: +${server!.url}/oauth$`, 'm'));
  return { clientId: /^client id: +(\S+)$/m.exec(made.stdout)![1]!, jwkFile: made.stdout.trim().split('\n').pop()! };
}

/** How many token requests the server has audited, granted or refused. */
async function tokenRequests(): Promise<number> {
  const trail = await runCli(['audit', '--json', '--data', data.path]);
  assert.equal(trail.code, 0, trail.stderr);
  return trail.stdout.split('\n').filter((l) => l && (JSON.parse(l) as { operation: string }).operation === 'oauth.token').length;
}

for (const alg of ['RS256', 'ES256'] as const) {
  test(`pydplus-style ${alg} client over HTTPS, verifying the CA: token, every endpoint, a 401 recovered from`, { skip: missing ?? false, concurrency: false }, async () => {
    const { clientId, jwkFile } = await createClient(alg);
    // The two clients share the demo directory: the second finds the credential the first deleted gone.
    if (alg === 'ES256') {
      const restore = await runCli(['ds100', 'register', '--data', data.path, '--user', JOHN, '--device', '140100080', '--token-serial', '014010008038']);
      assert.equal(restore.code, 0, restore.stderr);
    }
    const granted = await tokenRequests();
    const result = await runPython(['--jwk-file', jwkFile, '--client-id', clientId, '--issuer', `${server!.url}/oauth`, '--ca-file', caFile]);
    assert.equal(result.code, 0, `python exited ${result.code}: ${result.stdout} ${result.stderr}`);
    const steps = JSON.parse(result.stdout) as Record<string, unknown>;
    // Every operation of the contract's table was called, and answered 200.
    const called = Object.keys(steps).filter((k) => /^(GET|POST|PATCH|DELETE) \//.test(k)).sort();
    assert.deepEqual(called, Object.values(endpoints).map((e) => `${e.method} ${e.path}`).sort());
    for (const k of called) assert.deepEqual(steps[k], [200], k);
    assert.deepEqual(steps['lookup after a garbled token'], [401, 200]);
    assert.equal(steps.grants, 2);
    assert.equal(await tokenRequests(), granted + 2, 'the trail counts both token requests');
  });
}

test('the Python client refuses an issuer that is not https://, before it sends anything', { skip: missing ?? false, concurrency: false }, async () => {
  const { clientId, jwkFile } = await createClient('ES256');
  const before = await tokenRequests();
  const plain = server!.url.replace(/^https:/, 'http:');
  const result = await runPython(['--jwk-file', jwkFile, '--client-id', clientId, '--issuer', `${plain}/oauth`, '--ca-file', caFile]);
  assert.equal(result.code, 4, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stderr, /the issuer must start with https:\/\//);
  assert.equal(result.stdout, '');
  // An https:// issuer with a plain base URL is refused the same way.
  const mixed = await runPython(['--jwk-file', jwkFile, '--client-id', clientId, '--issuer', `${server!.url}/oauth`, '--base-url', plain, '--ca-file', caFile]);
  assert.equal(mixed.code, 4, `${mixed.stdout}\n${mixed.stderr}`);
  assert.match(mixed.stderr, /the base URL must start with https:\/\//);
  assert.equal(await tokenRequests(), before, 'no token request reached the server');
});

test('the Python client without the CA (system CAs only) is refused by the handshake', { skip: missing ?? false, concurrency: false }, async () => {
  const { clientId, jwkFile } = await createClient('RS256');
  const before = await tokenRequests();
  const result = await runPython(['--jwk-file', jwkFile, '--client-id', clientId, '--issuer', `${server!.url}/oauth`]);
  assert.equal(result.code, 3, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stderr, /CERTIFICATE_VERIFY_FAILED/);
  assert.equal(await tokenRequests(), before, 'no token request reached the server');
});
