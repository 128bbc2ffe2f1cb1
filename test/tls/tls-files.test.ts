/**
 * `serve --tls-cert FILE --tls-key FILE` as a real process: a certificate (with its chain) and
 * key that cannot be served stop the start with one line; SIGHUP serves the files' new pair to
 * new connections while an open keep-alive connection goes on with its requests; a pair that no
 * longer loads on SIGHUP keeps the one in use, and the log says why without any key in it. Plain
 * HTTP on loopback: no HSTS and no warning; the warning's rule itself.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureSelfSigned, type SelfSignedResult } from '../../src/tls/self-signed.ts';
import { plainHttpWarning } from '../../src/tls/plain-http.ts';
import { runCli, startServe, stopServe, type ServeProcess } from '../support/serve-process.ts';
import { tempDir } from '../support/stores.ts';
import { httpsRequest } from './lib.ts';

const dir = tempDir('ds100-tls-files-');
const certFile = join(dir.path, 'cert.pem');
const keyFile = join(dir.path, 'key.pem');
const issuing = join(dir.path, 'issuing');
let ca: string;
let first: SelfSignedResult;
/** The first pair's key, kept: the renewal overwrites the issuing folder's files. */
let firstKey: string;
let server: ServeProcess | undefined;

/** Puts a pair made by the test CA where the server reads it: the certificate with the CA after it (a chain). */
function install(made: SelfSignedResult, files: { cert?: string; key?: string } = {}): void {
  writeFileSync(certFile, files.cert ?? readFileSync(made.files.certFile, 'utf8') + readFileSync(made.files.caFile, 'utf8'));
  if (files.key === undefined) copyFileSync(made.files.keyFile, keyFile);
  else writeFileSync(keyFile, files.key);
}

before(async () => {
  first = await ensureSelfSigned({ dataDir: issuing, publicHost: 'localhost' });
  ca = readFileSync(first.files.caFile, 'utf8');
  firstKey = first.pair.key;
  install(first);
});
after(async () => {
  await stopServe(server);
  dir.dispose();
});

describe('a pair that cannot be served stops the start with one line', () => {
  const serve = (...args: string[]) => runCli(['serve', '--data', join(dir.path, 'refused'), '--port', '0', ...args]);
  const oneLine = (stderr: string) => assert.equal(stderr.trim().split('\n').length, 1, stderr);

  test('--tls-cert without --tls-key is a usage error (exit 2)', async () => {
    const run = await serve('--tls-cert', certFile);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stderr, 'ds100-admin: --tls-cert needs --tls-key too\n');
  });

  test('--tls-self-signed with --tls-cert is a usage error (exit 2)', async () => {
    const run = await serve('--tls-self-signed', '--tls-cert', certFile, '--tls-key', keyFile);
    assert.equal(run.code, 2, run.stderr);
    oneLine(run.stderr);
    assert.match(run.stderr, /--tls-(cert|key) <file>' cannot be used with option '--tls-self-signed'/);
  });

  test('a missing file, a file that is not PEM, a key of another certificate: exit 1, naming the file', async () => {
    const notPem = join(dir.path, 'not.pem');
    writeFileSync(notPem, 'this is not a certificate\n');
    const strangerKey = join(dir.path, 'stranger-key.pem');
    copyFileSync((await ensureSelfSigned({ dataDir: join(dir.path, 'stranger'), publicHost: 'localhost' })).files.keyFile, strangerKey);
    const cases: Array<[string[], RegExp]> = [
      [['--tls-cert', join(dir.path, 'nowhere.pem'), '--tls-key', keyFile], /^ds100-admin: cannot read the TLS certificate .*nowhere\.pem: ENOENT$/],
      [['--tls-cert', notPem, '--tls-key', keyFile], /^ds100-admin: the TLS certificate .*not\.pem holds no PEM certificate/],
      [['--tls-cert', certFile, '--tls-key', notPem], /^ds100-admin: the TLS key .*not\.pem is not a PEM private key/],
      [['--tls-cert', certFile, '--tls-key', strangerKey], /^ds100-admin: the TLS key .*stranger-key\.pem does not match the certificate .*cert\.pem/],
    ];
    for (const [args, message] of cases) {
      const run = await serve(...args);
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
      oneLine(run.stderr);
      assert.match(run.stderr.trim(), message);
      assert.ok(!run.stderr.includes('PRIVATE KEY'), 'no key in the message');
    }
  });
});

describe('SIGHUP', () => {
  before(async () => {
    server = await startServe(['--data', join(dir.path, 'data'), '--port', '0', '--tls-cert', certFile, '--tls-key', keyFile, '--log-level', 'info']);
  });

  test('serves a renewed pair to new connections while an open keep-alive connection finishes its requests', async () => {
    const kept = new Agent({ keepAlive: true, maxSockets: 1, ca });
    try {
      const url = `${server!.url}/healthz`;
      const before = [];
      for (let i = 0; i < 3; i++) before.push(await httpsRequest(url, { agent: kept }));

      // A renewal by the same CA: new key, new serial (a new host makes ensureSelfSigned issue again).
      const renewed = await ensureSelfSigned({ dataDir: issuing, publicHost: 'renewed.example.test' });
      assert.notEqual(renewed.pair.serial, first.pair.serial);
      install(renewed);
      server!.child.kill('SIGHUP');
      const logged = JSON.parse(await server!.waitForLine(/TLS certificate and key reloaded/)) as { serial: string };
      assert.equal(logged.serial, renewed.pair.serial);

      const afterReload = [];
      for (let i = 0; i < 3; i++) afterReload.push(await httpsRequest(url, { agent: kept }));
      const fresh = await httpsRequest(url, { ca });

      for (const r of [...before, ...afterReload, fresh]) assert.equal(r.status, 200);
      assert.equal(new Set([...before, ...afterReload].map((r) => r.localPort)).size, 1, 'one socket for all six requests');
      assert.deepEqual(
        [...before, ...afterReload].map((r) => r.serial),
        Array(6).fill(first.pair.serial),
        'the open connection keeps the certificate it was made with',
      );
      assert.equal(fresh.serial, renewed.pair.serial, 'a new connection gets the renewed certificate');
      assert.notEqual(fresh.localPort, before[0]!.localPort);
    } finally {
      kept.destroy();
    }
  });

  test('a file that no longer loads keeps the pair in use, and the log says why', async () => {
    const served = (await httpsRequest(`${server!.url}/healthz`, { ca })).serial;
    const inUse = readFileSync(certFile, 'utf8');
    install(first, { cert: 'not a certificate any more\n', key: readFileSync(keyFile, 'utf8') });
    server!.child.kill('SIGHUP');
    const line = JSON.parse(await server!.waitForLine(/not reloaded/)) as { level: number; reason: string };
    assert.equal(line.level, 50, 'logged as an error');
    assert.match(line.reason, /the TLS certificate .*cert\.pem holds no PEM certificate/);

    // The renewed certificate with the first pair's key: a key that does not match.
    install(first, { cert: inUse, key: firstKey });
    server!.child.kill('SIGHUP');
    await waitForCount(server!, /not reloaded/, 2);
    const mismatch = server!.lines.filter((l) => l.includes('not reloaded')).map((l) => JSON.parse(l) as { reason: string })[1]!;
    assert.match(mismatch.reason, /the TLS key .*key\.pem does not match the certificate/);

    const reply = await httpsRequest(`${server!.url}/healthz`, { ca });
    assert.equal(reply.status, 200);
    assert.equal(reply.serial, served, 'still the pair in use before the broken files');
    const everything = server!.lines.join('\n') + server!.stderr();
    assert.ok(!everything.includes('PRIVATE KEY') && !everything.includes(readFileSync(keyFile, 'utf8').split('\n')[1]!), 'no key in the log');
  });
});

/** Waits (bounded) until `count` stdout lines match. */
async function waitForCount(server: ServeProcess, pattern: RegExp, count: number): Promise<void> {
  for (let waited = 0; server.lines.filter((l) => pattern.test(l)).length < count; waited += 50) {
    if (waited > 30_000) assert.fail(`fewer than ${count} lines match ${pattern}:\n${server.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('plain HTTP', () => {
  test('on loopback: no HSTS, no warning', async () => {
    const plain = await startServe(['--data', join(dir.path, 'plain'), '--port', '0', '--log-level', 'warn']);
    try {
      assert.match(plain.url, /^http:\/\//);
      const res = await fetch(`${plain.url}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('strict-transport-security'), null);
      assert.equal(plain.stderr(), '');
    } finally {
      await stopServe(plain);
    }
  });

  test('the warning: plain HTTP on an address other machines reach, with no proxy declared', () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.7', '2001:db8::1', 'admin.example.com']) {
      assert.match(plainHttpWarning({ host, tls: false, trustProxy: undefined }) ?? '', /bearer tokens would cross the network in clear/, host);
      assert.equal(plainHttpWarning({ host, tls: true, trustProxy: undefined }), null, `${host} with TLS`);
      for (const trustProxy of [true, 1, '10.0.0.1', ['10.0.0.1']]) {
        assert.equal(plainHttpWarning({ host, tls: false, trustProxy }), null, `${host} behind a proxy (${String(trustProxy)})`);
      }
      assert.notEqual(plainHttpWarning({ host, tls: false, trustProxy: false }), null, `${host}, trust-proxy false`);
    }
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) {
      assert.equal(plainHttpWarning({ host, tls: false, trustProxy: undefined }), null, host);
    }
  });
});
