/**
 * `emulate --seed FILE` (src/emulator/seed.ts): YAML and JSON seed files, and their refusals,
 * which name the file, the line and what is wrong, before anything starts.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Ds100AdminClient } from '@ds100-admin/sdk';
import { startEmulator } from '../../src/emulator/index.ts';
import { runCli } from '../support/serve-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'ds100-seed-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const ACCESS_ID = '0e6d3c9a-4a8e-4a43-9a34-7f0e8c9d1a11';

test('a YAML seed starts the emulator with the users, registrations, keys and OAuth clients it pins', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const seed = file(
    'seed.yaml',
    `# The records every test of the suite starts from.
users:
  - &pat
    id: u-1
    email: pat@example.com
    firstName: Pat
  - id: u-2
    email: lee@example.com
registrations:
  - user: u-1
    deviceSerialNumber: "140100080"    # quoted: a serial number is text
    tokenSerialNumber: '014010008031'
    tokenStatus: Disabled
    pinSet: true
    registeredDate: 2024-01-01T00:00:00.000Z
keys:
  - accessId: ${ACCESS_ID}
    role: HelpDeskAdmin
oauthClients:
  - clientId: siem-collector
    scopes: [rsa.audit.admin, rsa.user.read]
    publicKey: |
${pem
  .trim()
  .split('\n')
  .map((line) => `      ${line}`)
  .join('\n')}
`,
  );
  const emulator = await startEmulator({ seed });
  try {
    assert.deepEqual(emulator.seeded.users, ['u-1', 'u-2']);
    assert.equal((JSON.parse(readFileSync(emulator.keyFiles.HelpDeskAdmin, 'utf8')) as { accessID: string }).accessID, ACCESS_ID);
    const sdk = await Ds100AdminClient.fromKeyFile(emulator.keyFiles.HelpDeskAdmin, { retry: false });
    const [record] = await sdk.lookupDs100({ deviceSerialNumber: '140100080' });
    assert.deepEqual([record?.userId, record?.tokenSerialNumber, record?.tokenStatus, record?.pinSet], ['u-1', '014010008031', 'Disabled', true]);
    assert.equal((await sdk.lookupUser({ email: 'pat@example.com' })).firstName, 'Pat');

    const listed = emulator.oauthClients.find((c) => c.clientId === 'siem-collector');
    assert.deepEqual([listed?.alg, listed?.jwkFile, listed?.scopes], ['RS256', null, ['rsa.audit.admin', 'rsa.user.read']]);
    const collector = await Ds100AdminClient.fromOAuthClient({
      jwk: { ...privateKey.export({ format: 'jwk' }), alg: 'RS256' },
      clientId: 'siem-collector',
      issuer: emulator.issuerUrl,
      retry: false,
    });
    assert.equal((await collector.lookupUser({ email: 'lee@example.com' })).id, 'u-2');
    // The seed has no client with every scope whose key the emulator makes: the default one is made.
    assert.notEqual(emulator.oauthClientId, 'siem-collector');
  } finally {
    await emulator.close();
  }
});

test('.yml is YAML too, a YAML file of comments alone seeds nothing, and JSON is read as before', async () => {
  for (const [name, text, users] of [
    ['flow.yml', 'users: [{ id: y-1, email: y@example.com }]\n', ['y-1']],
    ['empty.yaml', '# no records yet\n', []],
    ['seed.json', '{ "users": [{ "id": "j-1", "email": "j@example.com" }] }', ['j-1']],
  ] as const) {
    const emulator = await startEmulator({ seed: file(name, text) });
    try {
      assert.deepEqual(emulator.seeded.users, users, name);
    } finally {
      await emulator.close();
    }
  }
});

test('a seed file that is wrong is refused naming the file, the line and what is wrong', async () => {
  const refusals: Array<[string, string, RegExp]> = [
    ['syntax.yaml', 'users:\n  - email: a@example.com\n    firstName: [unclosed\n', /, line 4, column 1: Flow sequence in block collection must be sufficiently indented/],
    ['twice.yaml', 'users: []\nusers: []\n', /, line 2, column 1: Map keys must be unique\.$/],
    [
      'number.yaml',
      'registrations:\n  - user: u-1\n    deviceSerialNumber: "1"\n    tokenSerialNumber: 014010008031\n',
      /, line 4 \(\/registrations\/0\/tokenSerialNumber\): expected string \(YAML reads 014010008031 as a number: quote it, '014010008031'\)\.$/,
    ],
    ['number.json', '{\n  "registrations": [{ "user": "u-1", "deviceSerialNumber": 140100080 }]\n}\n', /, line 2 \(\/registrations\/0\/deviceSerialNumber\): expected string\.$/],
    ['member.yaml', 'users:\n  - email: a@example.com\n    nickname: Al\n', /, line 3 \(\/users\/0\/nickname\): unexpected property\.$/],
    ['missing.yaml', 'users:\n  - firstName: Al\n', /, line 2 \(\/users\/0\/email\): expected required property\.$/],
    ['list.yaml', '- users\n', /, line 1 \(the whole file\): expected object\.$/],
    ['syntax.json', '{\n  "users": [\n    { "email": "a@example.com", }\n  ]\n}\n', /, line 3, column 33: expected double-quoted property name in JSON\.$/],
    [
      'conflict.yaml',
      `users: [{ id: u-1, email: a@example.com }]
registrations:
  - { user: u-1, deviceSerialNumber: "1", tokenSerialNumber: "015010000131" }
  - { user: u-1, deviceSerialNumber: "2", tokenSerialNumber: "015010000131" }
`,
      /, line 4 \(\/registrations\/1\): OTP credential 015010000131 already exists\.?$/,
    ],
  ];
  for (const [name, text, message] of refusals) {
    const path = file(name, text);
    await assert.rejects(
      startEmulator({ seed: path }),
      (e: Error & { status?: number }) => e.status === 400 && e.message.startsWith(`Seed file ${path}, `) && message.test(e.message),
      name,
    );
  }
  await assert.rejects(startEmulator({ seed: join(dir, 'absent.yaml') }), /^Error: Seed file .*absent\.yaml, cannot be read: no such file\.$/);
});

test('emulate --seed with a wrong file prints the refusal and no JSON line, and exits', async () => {
  const path = file('cli.yaml', 'users:\n  - email: true\n');
  const run = await runCli(['emulate', '--seed', path]);
  assert.notEqual(run.code, 0);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, new RegExp(`Seed file ${path}, line 2 \\(/users/0/email\\): expected string\\.`));
});
