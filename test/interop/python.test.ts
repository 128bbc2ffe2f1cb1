/**
 * A Python team's use of `ds100-admin emulate` (test/interop/emulator_client.py): Debian's
 * /usr/bin/python3 with python3-requests and python3-jwt (`apt-get install -y python3-jwt
 * python3-requests python3-cryptography`). Missing, they fail the suite under CI=true and skip
 * it, saying why, elsewhere.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, ROOT } from '../support/serve-process.ts';

const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import requests, jwt, cryptography'], { encoding: 'utf8' });
const missing =
  probe.error || probe.status !== 0
    ? `${PYTHON} with requests, jwt and cryptography is needed (apt-get install -y python3-jwt python3-requests python3-cryptography): ${probe.error?.message ?? probe.stderr.trim()}`
    : undefined;

test('a Python client starts emulate with a YAML seed, reads its JSON line, gets an OAuth token, injects faults and reads the journal', { skip: process.env.CI !== 'true' && missing }, () => {
  assert.equal(missing, undefined, missing);
  const run = spawnSync(PYTHON, [join(ROOT, 'test', 'interop', 'emulator_client.py'), BIN], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, `python exited ${run.status} ${run.signal ?? ''}\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stderr, /Ran 7 tests/);
});
