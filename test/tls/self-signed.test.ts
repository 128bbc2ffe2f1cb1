/**
 * `serve --tls-self-signed` as a real process over real TLS on loopback: the local CA and server
 * certificate it makes under <data>/tls/ (modes, names), what it prints, who the handshake lets
 * in (a client trusting the CA; not one without it; not TLS 1.1), HSTS, the https:// key files,
 * the SDK and the CLI with the CA, and later starts reusing the files or renewing the server
 * certificate.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { ConnectionError, Ds100AdminClient } from '@ds100-admin/sdk';
import { ensureSelfSigned, selfSignedFiles } from '../../src/tls/self-signed.ts';
import { API, readKeyFile, runCli, startServe, stopServe, type ServeProcess } from '../support/serve-process.ts';
import { tempDir } from '../support/stores.ts';
import { httpsRequest } from './lib.ts';

const DAY_MS = 86_400_000;
const JANE = { id: 'ece30fe9-414c-7536-5403-0656220b3046', email: 'jane.doe@example.com' };

const data = tempDir('ds100-tls-self-');
const files = selfSignedFiles(data.path);
let server: ServeProcess | undefined;
after(async () => {
  await stopServe(server);
  data.dispose();
});

const mode = (path: string) => statSync(path).mode & 0o777;

describe('a first start with --tls-self-signed', () => {
  before(async () => {
    server = await startServe(['--data', data.path, '--port', '0', '--tls-self-signed', '--demo', '--log-level', 'warn']);
  });

  test('makes a CA and a server certificate under <data>/tls/, private keys 0600 in a 0700 folder', () => {
    assert.equal(mode(files.dir), 0o700, 'tls folder');
    assert.equal(mode(files.caKeyFile), 0o600, 'CA key');
    assert.equal(mode(files.keyFile), 0o600, 'server key');
    const ca = new X509Certificate(readFileSync(files.caFile));
    const leaf = new X509Certificate(readFileSync(files.certFile));
    assert.ok(ca.ca, 'the CA certificate is a CA');
    assert.ok(!leaf.ca, 'the server certificate is not');
    assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), 'the CA signed the server certificate');
    // The public URL's host (127.0.0.1 by default) first, then the local names.
    assert.equal(leaf.subjectAltName, 'IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1');
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  test('prints the CA file and how to trust it, and listens on https://', () => {
    const out = server!.lines.join('\n');
    assert.ok(out.includes(`TLS CA certificate: ${files.caFile}`), out);
    assert.ok(out.includes(`curl --cacert ${files.caFile} ${server!.url}/healthz`), out);
    assert.ok(out.includes(`REQUESTS_CA_BUNDLE=${files.caFile}`), out);
    assert.ok(out.includes(`NODE_EXTRA_CA_CERTS=${files.caFile}`), out);
    assert.match(server!.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(server!.stderr(), '', 'no warning: tokens travel encrypted');
  });

  test('a client that does not trust the CA is refused by the handshake', async () => {
    const error = await httpsRequest(`${server!.url}/healthz`).then(
      () => assert.fail('the handshake succeeded without the CA'),
      (e: NodeJS.ErrnoException) => e,
    );
    assert.equal(error.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', String(error));
  });

  test('a client that trusts the CA gets 200 on /healthz, with HSTS', async () => {
    const reply = await httpsRequest(`${server!.url}/healthz`, { ca: readFileSync(files.caFile) });
    assert.equal(reply.status, 200, reply.body);
    assert.equal(reply.headers['strict-transport-security'], 'max-age=31536000');
  });

  test('"localhost" and "::1" are served too (the certificate names them)', async () => {
    const port = new URL(server!.url).port;
    const reply = await httpsRequest(`https://localhost:${port}/healthz`, { ca: readFileSync(files.caFile) });
    assert.equal(reply.status, 200);
  });

  test('TLS 1.1 is refused in the handshake', async () => {
    const { port } = new URL(server!.url);
    const error = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port: Number(port),
        ca: readFileSync(files.caFile),
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        // OpenSSL's default security level forbids TLS 1.1 in the client itself; level 0 lets it
        // offer 1.1, so that the refusal seen is the server's.
        ciphers: 'DEFAULT@SECLEVEL=0',
      });
      socket.on('secureConnect', () => {
        socket.destroy();
        reject(new Error(`the server accepted ${socket.getProtocol()}`));
      });
      socket.on('error', resolve);
    });
    assert.equal(error.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', String(error));
  });

  test('the bootstrap key file names https://, and a real API call with it succeeds through the SDK with ca', async () => {
    const keyFile = readKeyFile(server!.bootstrapKeyFile!);
    assert.equal(keyFile.adminRestApiUrl, `${server!.url}${API}`);
    const client = await Ds100AdminClient.fromKeyFile(keyFile, { ca: readFileSync(files.caFile, 'utf8'), retry: false });
    assert.equal((await client.lookupUser({ email: JANE.email })).id, JANE.id);
  });

  test('the SDK without ca is refused, with the way to trust the CA in the message', async () => {
    const client = await Ds100AdminClient.fromKeyFile(server!.bootstrapKeyFile!, { retry: false });
    const error = await client.lookupUser({ email: JANE.email }).then(
      () => assert.fail('the call succeeded without the CA'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ConnectionError, String(error));
    assert.equal(error.errorCode, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.match(error.message, /not signed by a CA this client trusts.*--ca FILE/);
  });

  test('keys create without --public-url names the https:// URL of the server on the folder', async () => {
    const run = await runCli(['keys', 'create', '--role', 'ReadOnly', '--data', data.path]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(readKeyFile(run.stdout.trim()).adminRestApiUrl, `${server!.url}${API}`);
  });

  test('the CLI reaches it with --ca, or NODE_EXTRA_CA_CERTS; without either it fails with exit 5 and says why', async () => {
    const lookup = ['user', 'lookup', '--key-file', server!.bootstrapKeyFile!, '--email', JANE.email, '--json', '--retries', '0'];
    const withCa = await runCli([...lookup, '--ca', files.caFile]);
    assert.equal(withCa.code, 0, withCa.stderr);
    assert.equal((JSON.parse(withCa.stdout) as { id: string }).id, JANE.id);

    const withEnv = await runCli(lookup, { env: { NODE_EXTRA_CA_CERTS: files.caFile } });
    assert.equal(withEnv.code, 0, withEnv.stderr);

    const without = await runCli(lookup);
    assert.equal(without.code, 5, without.stderr);
    assert.match(without.stderr, /^ds100-admin: cannot reach https:\/\/127\.0\.0\.1:\d+\/AdminInterface\/restapi: UNABLE_TO_VERIFY_LEAF_SIGNATURE .*--ca FILE/);
    assert.equal(without.stderr.trim().split('\n').length, 1, 'one line');

    const notPem = await runCli([...lookup, '--ca', files.caKeyFile.replace('ca-key', 'nowhere')]);
    assert.equal(notPem.code, 2, notPem.stderr);
    assert.match(notPem.stderr, /cannot read --ca .*nowhere\.pem: ENOENT/);
  });
});

describe('later starts', () => {
  test('a second start reuses the CA and the server certificate', async () => {
    await stopServe(server);
    const ca = readFileSync(files.caFile, 'utf8');
    const cert = readFileSync(files.certFile, 'utf8');
    server = await startServe(['--data', data.path, '--port', '0', '--tls-self-signed', '--log-level', 'warn']);
    assert.ok(server.lines.some((l) => l.startsWith('TLS: CA reused, server certificate reused')), server.lines.join('\n'));
    assert.equal(readFileSync(files.caFile, 'utf8'), ca);
    assert.equal(readFileSync(files.certFile, 'utf8'), cert);
    const reply = await httpsRequest(`${server.url}/healthz`, { ca });
    assert.equal(reply.serial, new X509Certificate(cert).serialNumber, 'the same certificate is served');
  });

  test('a server certificate that expires within 30 days is renewed at start, by the same CA', async () => {
    await stopServe(server);
    const older = tempDir('ds100-tls-renew-');
    try {
      // Made 380 days ago: 17 days of its 397 are left.
      const made = await ensureSelfSigned({ dataDir: older.path, publicHost: '127.0.0.1', now: () => Date.now() - 380 * DAY_MS });
      const ca = readFileSync(made.files.caFile, 'utf8');
      server = await startServe(['--data', older.path, '--port', '0', '--tls-self-signed', '--log-level', 'warn']);
      assert.ok(
        server.lines.some((l) => /^TLS: CA reused, server certificate renewed \(it expires .* within 30 days\)/.test(l)),
        server.lines.join('\n'),
      );
      assert.equal(readFileSync(made.files.caFile, 'utf8'), ca, 'the CA is kept');
      const renewed = new X509Certificate(readFileSync(made.files.certFile));
      assert.notEqual(renewed.serialNumber, made.pair.serial);
      assert.ok(Date.parse(renewed.validTo) - Date.now() > 390 * DAY_MS, renewed.validTo);
      const reply = await httpsRequest(`${server.url}/healthz`, { ca });
      assert.equal(reply.status, 200);
      assert.equal(reply.serial, renewed.serialNumber, 'the renewed certificate is served');
      await stopServe(server);
    } finally {
      older.dispose();
    }
  });
});

describe('ensureSelfSigned', () => {
  test('renews the server certificate when the public host changes, and names the new host', async () => {
    const dir = tempDir('ds100-tls-hosts-');
    try {
      const first = await ensureSelfSigned({ dataDir: dir.path, publicHost: 'admin.example.test' });
      assert.deepEqual([first.ca, first.server], ['created', 'created']);
      const again = await ensureSelfSigned({ dataDir: dir.path, publicHost: 'ADMIN.example.test' });
      assert.deepEqual([again.server, again.pair.serial], ['reused', first.pair.serial], 'host names match without regard to case');
      const moved = await ensureSelfSigned({ dataDir: dir.path, publicHost: 'other.example.test' });
      assert.deepEqual([moved.ca, moved.server, moved.reason], ['reused', 'renewed', 'it does not name other.example.test']);
      assert.match(new X509Certificate(readFileSync(moved.files.certFile)).subjectAltName ?? '', /^DNS:other\.example\.test, DNS:localhost, /);
      const v6 = await ensureSelfSigned({ dataDir: dir.path, publicHost: '[fd00::1]' });
      assert.equal(v6.server, 'renewed');
      assert.match(new X509Certificate(readFileSync(v6.files.certFile)).subjectAltName ?? '', /^IP Address:FD00:0:0:0:0:0:0:1, /i);
    } finally {
      dir.dispose();
    }
  });

  test('issues a server certificate again when its key no longer matches (a start cut short between the two writes)', async () => {
    const dir = tempDir('ds100-tls-broken-');
    try {
      const first = await ensureSelfSigned({ dataDir: dir.path, publicHost: 'localhost' });
      const other = await ensureSelfSigned({ dataDir: join(dir.path, 'other'), publicHost: 'localhost' });
      // The other folder's key over this one's: the pair on disk no longer belongs together.
      writeFileSync(first.files.keyFile, readFileSync(other.files.keyFile));
      const again = await ensureSelfSigned({ dataDir: dir.path, publicHost: 'localhost' });
      assert.equal(again.server, 'renewed');
      assert.match(again.reason ?? '', /does not load .*does not match/);
      assert.equal(again.ca, 'reused');
    } finally {
      dir.dispose();
    }
  });
});
