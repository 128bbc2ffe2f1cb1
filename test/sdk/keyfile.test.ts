import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Ds100AdminClient, KeyFileError, loadKeyFile, parseKeyFile } from '@ds100-admin/sdk';
import { startServer, type TestServer } from '../support/server.ts';
import { tempDir } from '../support/stores.ts';

let server: TestServer;
const dir = tempDir('ds100-sdk-keyfile-');
before(async () => {
  server = await startServer({ demo: true });
});
after(async () => {
  await server.close();
  dir.dispose();
});

let n = 0;
function write(content: unknown): string {
  const path = join(dir.path, `k${++n}.key`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content), { mode: 0o600 });
  return path;
}

const good = () => ({ ...server.keys.HelpDeskAdmin.keyFile });

async function refusal(path: string): Promise<KeyFileError> {
  const error = await loadKeyFile(path).then(
    () => assert.fail('loadKeyFile accepted a broken key file'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof KeyFileError, `expected a KeyFileError, got ${String(error)}`);
  assert.equal(error.path, path);
  assert.ok(error.message.includes(path), `the message names the file: ${error.message}`);
  return error;
}

test('a key file as the server writes it (PKCS#1) loads as it is', async () => {
  const keyFile = good();
  assert.match(keyFile.accessKey, /^-----BEGIN RSA PRIVATE KEY-----/);
  assert.deepEqual(await loadKeyFile(write(keyFile)), keyFile);
});

test('a PKCS#8 accessKey loads, and a client made from it is accepted by the server', async () => {
  const pkcs8 = server.keys.HelpDeskAdmin.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  assert.match(pkcs8, /^-----BEGIN PRIVATE KEY-----/);
  const path = write({ ...good(), accessKey: pkcs8 });
  assert.equal((await loadKeyFile(path)).accessKey, pkcs8);
  const client = await Ds100AdminClient.fromKeyFile(path);
  const user = await client.lookupUser({ email: 'jane.doe@example.com' });
  assert.equal(user.id, 'ece30fe9-414c-7536-5403-0656220b3046');
});

test('a missing file, or one that is not JSON or not an object, is named as such', async () => {
  const missing = join(dir.path, 'nope.key');
  const e1 = await refusal(missing);
  assert.equal(e1.field, undefined);
  assert.match(e1.message, /no such file/);
  const e2 = await refusal(write('{"accessID": '));
  assert.match(e2.message, /not valid JSON/);
  const e3 = await refusal(write('[1, 2]'));
  assert.match(e3.message, /not a JSON object/);
});

for (const field of ['accessID', 'accessKey', 'adminRestApiUrl'] as const) {
  test(`a key file without ${field}, or with an empty or non-string one, names ${field}`, async () => {
    const { [field]: _, ...rest } = good();
    for (const broken of [rest, { ...rest, [field]: '' }, { ...rest, [field]: 42 }]) {
      const e = await refusal(write(broken));
      assert.equal(e.field, field);
      assert.ok(e.message.includes(field), e.message);
    }
  });
}

test('a broken accessKey is named: not PEM, truncated, encrypted, not RSA, too short', async () => {
  const pem = good().accessKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  const encrypted = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: 'secret',
  }) as string;
  const cases: Array<[string, RegExp]> = [
    ['MIIEowIBAAKCAQEA', /not a PEM private key/],
    [pem.slice(0, 200), /cannot be read as a private key/],
    [encrypted, /encrypted/],
    [ec, /RSA/],
    [small, /1024 bits/],
  ];
  for (const [accessKey, why] of cases) {
    const e = await refusal(write({ ...good(), accessKey }));
    assert.equal(e.field, 'accessKey');
    assert.match(e.message, why);
  }
});

test('adminRestApiUrl must be an http(s) URL', async () => {
  for (const url of ['admin.example.com/AdminInterface/restapi', 'ftp://admin.example.com/AdminInterface/restapi']) {
    const e = await refusal(write({ ...good(), adminRestApiUrl: url }));
    assert.equal(e.field, 'adminRestApiUrl');
  }
});

test('customerName and description may be absent; they default to ""', () => {
  const { customerName: _c, description: _d, ...rest } = good();
  const parsed = parseKeyFile(rest);
  assert.equal(parsed.customerName, '');
  assert.equal(parsed.description, '');
});
