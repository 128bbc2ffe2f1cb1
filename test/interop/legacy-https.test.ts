/**
 * A legacy Python client over HTTPS, as the field runs them: Debian's python3 with PyJWT,
 * requests and cryptography (legacy_client.py), against `serve --tls-self-signed --demo` as a real
 * process, verifying the server's certificate against the CA file it printed. Float iat/exp, the
 * bootstrap key file's https:// adminRestApiUrl as aud, four calls.
 *
 * Without /usr/bin/python3 or one of its modules the test fails under CI=true and is skipped,
 * saying why, elsewhere (as test/run.ts treats a missing service). `.ci/run` installs them.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { selfSignedFiles } from '../../src/tls/self-signed.ts';
import { startServe, stopServe, type ServeProcess } from '../support/serve-process.ts';
import { tempDir } from '../support/stores.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('legacy_client.py', import.meta.url));
const JANE = 'ece30fe9-414c-7536-5403-0656220b3046';

/** Why the Python client cannot run here, or null when it can. */
function pythonMissing(): string | null {
  const probe = spawnSync(PYTHON, ['-c', 'import jwt, requests, cryptography'], { encoding: 'utf8' });
  if (probe.error) return `${PYTHON} cannot run (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message})`;
  if (probe.status !== 0) return `${PYTHON} lacks a module: ${probe.stderr.trim().split('\n').pop()}`;
  return null;
}
const missing = pythonMissing();
const why = `${missing}; install it with: apt-get install -y python3-jwt python3-requests python3-cryptography`;

function runPython(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  // Only the CA file given decides whom requests trusts.
  for (const k of ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'SSL_CERT_FILE', 'SSL_CERT_DIR']) delete env[k];
  return new Promise((resolve) => {
    execFile(PYTHON, [SCRIPT, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

interface Call {
  status: number;
  body: unknown;
}

const data = tempDir('ds100-interop-');
let server: ServeProcess | undefined;
before(async () => {
  if (missing) return;
  server = await startServe(['--data', data.path, '--port', '0', '--tls-self-signed', '--demo', '--log-level', 'warn']);
});
after(async () => {
  await stopServe(server);
  data.dispose();
});

if (missing && process.env.CI === 'true') {
  test('the legacy Python client can run (CI=true: a missing interpreter or module is a failure)', () => assert.fail(why));
}

test('a Python client (PyJWT, requests, float iat/exp) calls four endpoints over HTTPS with verification on', { skip: missing ? why : false }, async () => {
  const run = await runPython([server!.bootstrapKeyFile!, selfSignedFiles(data.path).caFile]);
  assert.equal(run.code, 0, run.stderr);
  const r = JSON.parse(run.stdout) as Record<'users_lookup' | 'ds100_lookup' | 'enable' | 'disable', Call> & { claims: { iat: number; exp: number } };
  assert.ok(!Number.isInteger(r.claims.iat) && !Number.isInteger(r.claims.exp), `float claims: ${JSON.stringify(r.claims)}`);

  assert.equal(r.users_lookup.status, 200, JSON.stringify(r.users_lookup));
  assert.equal((r.users_lookup.body as { id: string }).id, JANE);
  assert.equal(r.ds100_lookup.status, 200, JSON.stringify(r.ds100_lookup));
  assert.equal((r.ds100_lookup.body as unknown[]).length, 4, 'the demo device has four OTP credentials');
  for (const [call, status] of [[r.enable, 'Enabled'], [r.disable, 'Disabled']] as const) {
    assert.equal(call.status, 200, JSON.stringify(call));
    const items = call.body as Array<{ userId: string; tokenStatus: string }>;
    assert.deepEqual(items.map((i) => [i.userId, i.tokenStatus]), [[JANE, status]]);
  }
});

test('the same client trusting only the system CAs is refused by the handshake', { skip: missing ? why : false }, async () => {
  const run = await runPython([server!.bootstrapKeyFile!, 'system']);
  assert.equal(run.code, 3, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stderr, /CERTIFICATE_VERIFY_FAILED/);
});
