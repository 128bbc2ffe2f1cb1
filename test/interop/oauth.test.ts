/**
 * Interop with the field's Python (contract 10): test/interop/oauth_client.py, run by Debian's
 * /usr/bin/python3 with python3-jwt, python3-requests and python3-cryptography, loads a JWK file
 * made by `oauth-clients create` (RS256, then ES256), builds its assertion with PyJWT as pydplus
 * does, gets a token from a real `serve` process, calls every endpoint, and recovers from a 401.
 * Without python3 or a module: a failure under CI=true, else a skip that says why.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from '../support/stores.ts';
import { runCli, startServe, stopServe, type ServeProcess } from '../support/serve-process.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, 'oauth_client.py');
const run = promisify(execFile);

/** Why the Python side cannot run here, or null when it can. */
async function pythonMissing(): Promise<string | null> {
  try {
    await run(PYTHON, ['-c', 'import jwt, requests, cryptography']);
    return null;
  } catch (error) {
    const e = error as { code?: string; stderr?: string };
    return e.code === 'ENOENT' ? `${PYTHON} is not installed` : `a module is missing: ${(e.stderr ?? '').trim().split('\n').pop()} (apt-get install python3-jwt python3-requests python3-cryptography)`;
  }
}

const missing = await pythonMissing();
if (missing && process.env.CI === 'true') throw new Error(`CI=true and the Python interop cannot run: ${missing}`);

let server: ServeProcess | undefined;
const data = tempDir('ds100-oauth-py-');
before(async () => {
  if (missing) return;
  server = await startServe(['--data', data.path, '--port', '0', '--demo', '--log-level', 'warn']);
});
after(async () => {
  await stopServe(server);
  data.dispose();
});

for (const alg of ['RS256', 'ES256']) {
  test(`pydplus-style ${alg} client: token, every endpoint, a 401 recovered from`, { skip: missing ?? false, concurrency: false }, async () => {
    const made = await runCli([
      'oauth-clients', 'create', '--data', data.path, '--public-url', server!.url, '--alg', alg,
      '--scope', 'rsa.authenticator.ds100.manage rsa.authenticator.ds100.delete rsa.authenticator.ds100.read rsa.user.read',
    ]);
    assert.equal(made.code, 0, made.stderr);
    const clientId = /^client id: +(\S+)$/m.exec(made.stdout)![1]!;
    const jwkFile = made.stdout.trim().split('\n').pop()!;
    // The two clients share the demo directory: the second finds the credential the first deleted gone.
    if (alg === 'ES256') {
      const restore = await runCli(['ds100', 'register', '--data', data.path, '--user', '87927fb7-e185-4c33-c7e3-8e077675973c', '--device', '140100080', '--token-serial', '014010008038']);
      assert.equal(restore.code, 0, restore.stderr);
    }
    const result: { stdout: string; stderr: string; code?: number } = await run(
      PYTHON, [SCRIPT, '--jwk-file', jwkFile, '--client-id', clientId, '--issuer', `${server!.url}/oauth`], { timeout: 60_000 },
    ).catch((error: { stdout: string; stderr: string; code: number }) => error);
    assert.equal(result.code, undefined, `python exited ${result.code}: ${result.stdout} ${result.stderr}`);
    const steps = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.deepEqual(steps['lookup after a garbled token'], [401, 200]);
    assert.equal(steps.grants, 2);
  });
}
