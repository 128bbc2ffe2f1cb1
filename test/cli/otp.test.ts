import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { systemClock } from '../../src/domain/clock.ts';
import { makeDirectoryService } from '../../src/domain/directory.ts';
import type { BulkResult } from '../../src/cli/otp.ts';
import type { Role } from '../../src/domain/types.ts';
import { API, startServer, type TestServer } from '../support/server.ts';
import { tempDir } from '../support/stores.ts';
import { startStandIn, tooMany, unavailable } from '../support/stand-in.ts';

const BIN = fileURLToPath(new URL('../../bin/ds100-admin.js', import.meta.url));
const JANE = 'ece30fe9-414c-7536-5403-0656220b3046';
const JOHN = '87927fb7-e185-4c33-c7e3-8e077675973c';
const DEVICE = '140100080';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node bin/ds100-admin.js ...args`, asynchronously, so that the server in this process keeps answering. */
function cli(args: string[]): Promise<Run> {
  const env = { ...process.env };
  delete env.DS100_KEY_FILE;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let server: TestServer;
const dir = tempDir('ds100-cli-otp-');
const keyFiles = {} as Record<Role, string>;
before(async () => {
  server = await startServer({ demo: true });
  for (const role of ['SuperAdmin', 'HelpDeskAdmin', 'ReadOnly'] as const) {
    keyFiles[role] = join(dir.path, `${role}.key`);
    writeFileSync(keyFiles[role], JSON.stringify(server.keys[role].keyFile), { mode: 0o600 });
  }
});
after(async () => {
  await server.close();
  dir.dispose();
});

const key = (role: Role = 'HelpDeskAdmin') => ['--key-file', keyFiles[role]];

function json<T>(run: Run): T {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

describe('one call per command', () => {
  test("one line enables the vendor's example credential (JSON when piped)", async () => {
    const items = json<Array<Record<string, unknown>>>(await cli(['otp', 'enable', ...key(), '--device', DEVICE, '--user', JANE]));
    assert.equal(items.length, 1);
    assert.equal(items[0]!.tokenSerialNumber, '014010008031');
    assert.equal(items[0]!.tokenStatus, 'Enabled');
    assert.equal(items[0]!.tokenStatusChangedBy, server.keys.HelpDeskAdmin.keyFile.accessID);
    assert.equal((await server.store.credentialByTokenSerial('014010008031'))?.tokenStatus, 'Enabled');
  });

  test('--user takes an e-mail address and looks it up first; --table prints a table', async () => {
    const run = await cli(['otp', 'disable', ...key(), '--device', DEVICE, '--user', 'jane.doe@example.com', '--table']);
    assert.equal(run.code, 0, run.stderr);
    const [header, rule, row, ...rest] = run.stdout.trimEnd().split('\n');
    assert.match(header!, /^userId\s+tokenSerialNumber\s+tokenStatus\s+tokenStatusChangedAt\s+tokenStatusChangedBy\s+deviceSerialNumber$/);
    assert.match(rule!, /^-+\s+-+/);
    assert.match(row!, new RegExp(`^${JANE}\\s+014010008031\\s+Disabled\\s`));
    assert.equal(rest.length, 0);
    assert.equal((await server.store.credentialByTokenSerial('014010008031'))?.tokenStatus, 'Disabled');
  });

  test('otp lookup and user lookup', async () => {
    const records = json<Array<{ tokenSerialNumber: string; name: string | null }>>(await cli(['otp', 'lookup', ...key('ReadOnly'), '--device', DEVICE, '--json']));
    assert.equal(records.find((r) => r.tokenSerialNumber === '014010008035')?.name, 'dak-br03-ngx-01');
    const user = json<{ id: string; firstName: string }>(await cli(['user', 'lookup', ...key('ReadOnly'), '--email', 'JANE.DOE@example.com']));
    assert.equal(user.id, JANE);
    const table = await cli(['user', 'lookup', ...key('ReadOnly'), '--email', 'jane.doe@example.com', '--table']);
    assert.match(table.stdout, new RegExp(`^id\\s+${JANE}$`, 'm'));
    assert.match(table.stdout, /^firstName\s+Jane$/m);
  });

  test('otp clear-pin', async () => {
    const result = json<unknown>(await cli(['otp', 'clear-pin', ...key(), '--token-serial', '014010008039', '--user', 'john.smith@example.com']));
    assert.deepEqual(result, { tokenSerialNumber: '014010008039', pinSet: false });
  });

  test('otp delete; deleting it again exits 3 (not found)', async () => {
    const args = ['otp', 'delete', ...key(), '--device', DEVICE, '--token-serial', '014010008038', '--user', JOHN];
    assert.deepEqual(json(await cli(args)), { deleted: true, tokenSerialNumber: '014010008038', deviceSerialNumber: DEVICE, userId: JOHN });
    const again = await cli(args);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /404 NOT_FOUND: OTP credential 014010008038 not found/);
  });

  test('--base-url overrides the key file URL', async () => {
    const wrong = join(dir.path, 'wrong-url.key');
    writeFileSync(wrong, JSON.stringify({ ...server.keys.ReadOnly.keyFile, adminRestApiUrl: 'http://127.0.0.1:9/AdminInterface/restapi' }));
    const failed = await cli(['otp', 'lookup', '--key-file', wrong, '--device', DEVICE, '--retries', '0']);
    assert.equal(failed.code, 5, failed.stderr);
    const records = json<unknown[]>(await cli(['otp', 'lookup', '--key-file', wrong, '--base-url', server.url, '--device', DEVICE]));
    assert.ok(records.length > 0);
  });
});

describe('exit codes', () => {
  test('2 for usage: a missing option, a missing or broken key file, a value the server refuses as malformed', async () => {
    const noDevice = await cli(['otp', 'enable', ...key(), '--user', JANE]);
    assert.equal(noDevice.code, 2);
    assert.match(noDevice.stderr, /--device and --user/);
    const noKey = await cli(['otp', 'lookup', '--device', DEVICE]);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /--key-file/);
    const missing = await cli(['otp', 'lookup', '--key-file', join(dir.path, 'absent.key'), '--device', DEVICE]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /absent\.key: no such file/);
    const broken = join(dir.path, 'broken.key');
    writeFileSync(broken, JSON.stringify({ ...server.keys.ReadOnly.keyFile, accessKey: 'not a key' }));
    const brokenRun = await cli(['otp', 'lookup', '--key-file', broken, '--device', DEVICE]);
    assert.equal(brokenRun.code, 2);
    assert.match(brokenRun.stderr, /accessKey/);
    const tooLong = await cli(['otp', 'lookup', ...key(), '--device', 'x'.repeat(37)]);
    assert.equal(tooLong.code, 2);
    assert.match(tooLong.stderr, /400 BAD_REQUEST: Invalid value for property 'deviceSerialNumber'/);
  });

  test('3 for not found: an unknown e-mail address', async () => {
    const run = await cli(['otp', 'enable', ...key(), '--device', DEVICE, '--user', 'nobody@example.com']);
    assert.equal(run.code, 3);
    assert.match(run.stderr, /User nobody@example\.com not found \(request \S+\)/);
    assert.equal(run.stdout, '');
  });

  test('4 for refused: a role that may not (403), too many requests (429)', async () => {
    const forbidden = await cli(['otp', 'enable', ...key('ReadOnly'), '--device', DEVICE, '--user', JANE]);
    assert.equal(forbidden.code, 4);
    assert.match(forbidden.stderr, /403 FORBIDDEN: Not authorized to perform the request\./);

    const standIn = await startStandIn(server.url);
    standIn.then = tooMany('60');
    try {
      const args = ['otp', 'lookup', ...key(), '--device', DEVICE, '--base-url', standIn.url, '--audience', `${server.url}${API}`];
      const limited = await cli(args);
      assert.equal(limited.code, 4);
      assert.match(limited.stderr, /429 TOO_MANY_REQUESTS: Too many requests\./);
      assert.equal(standIn.seen.length, 1, 'a Retry-After past the time budget is not waited for');
    } finally {
      await standIn.close();
    }
  });

  test('5 for server errors, after the retries allowed', async () => {
    const standIn = await startStandIn(server.url);
    standIn.then = unavailable;
    try {
      const run = await cli(['otp', 'lookup', ...key(), '--device', DEVICE, '--base-url', standIn.url, '--audience', `${server.url}${API}`, '--retries', '2']);
      assert.equal(run.code, 5);
      assert.match(run.stderr, /503 SERVICE_UNAVAILABLE/);
      assert.equal(standIn.seen.length, 3);
    } finally {
      await standIn.close();
    }
  });
});


const lines = (text: string): BulkResult[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as BulkResult)
    .sort((a, b) => a.row - b.row);

describe('bulk', () => {
  test('a CSV with good and bad rows: every row gets a result line, the run goes on, and a re-run takes only the failed rows', async () => {
    const csv = join(dir.path, 'rows.csv');
    writeFileSync(
      csv,
      [
        'device,user',
        `${DEVICE},jane.doe@example.com`,
        '140100099,new.hire@example.com',
        `999,${JANE}`,
        `${DEVICE},`,
        `${'x'.repeat(37)},jane.doe@example.com`,
        `${DEVICE},${JANE}`,
        '',
      ].join('\n'),
    );
    const results = join(dir.path, 'results.jsonl');
    const run = await cli(['otp', 'enable', ...key(), '--from', csv, '--concurrency', '3', '--results', results]);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /6 rows, 2 ok, 4 failed/);
    const out = lines(readFileSync(results, 'utf8'));
    assert.deepEqual(
      out.map((l) => [l.row, l.outcome, l.status]),
      [
        [1, 'ok', 200],
        [2, 'failed', 404],
        [3, 'failed', 404],
        [4, 'failed', null],
        [5, 'failed', null],
        [6, 'ok', 200],
      ],
    );
    assert.equal(out[0]!.userId, JANE);
    assert.equal(out[0]!.message, '014010008031 Enabled');
    assert.equal(out[1]!.message, 'User new.hire@example.com not found');
    assert.match(out[2]!.message, /DS100 999 is not registered/);
    assert.match(out[3]!.message, /rows\.csv:5: needs a device .* and a user/);
    assert.match(out[4]!.message, /rows\.csv:6: Invalid value for property 'deviceSerialNumber': must be a non-empty string of at most 36 characters/, 'the API rules, checked here');

    // The help desk fixes what made row 2 fail, and re-runs the failed rows only.
    const directory = makeDirectoryService({ store: server.store, clock: systemClock });
    const actor = { kind: 'operator' as const, subject: 'test', role: null, clientAddress: 'local', requestId: null };
    await directory.addUser(actor, { email: 'new.hire@example.com', firstName: 'New', lastName: 'Hire' });
    await directory.register(actor, { user: 'new.hire@example.com', deviceSerialNumber: '140100099', tokenSerialNumber: '014010009931', tokenStatus: 'Disabled' });
    const failed = join(dir.path, 'failed.jsonl');
    writeFileSync(failed, readFileSync(results, 'utf8').split('\n').filter((l) => l.includes('"outcome":"failed"')).join('\n'));
    const rerun = await cli(['otp', 'enable', ...key(), '--from', failed]);
    assert.equal(rerun.code, 1, rerun.stderr);
    const again = lines(rerun.stdout)
      .map((l) => [l.device, l.user, l.outcome])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    assert.deepEqual(again, [
      [DEVICE, null, 'failed'],
      ['140100099', 'new.hire@example.com', 'ok'],
      ['999', JANE, 'failed'],
      ['x'.repeat(37), 'jane.doe@example.com', 'failed'],
    ]);
    assert.match(rerun.stderr, /4 rows, 1 ok, 3 failed/);
    assert.equal((await server.store.credentialByTokenSerial('014010009931'))?.tokenStatus, 'Enabled');
  });

  test('JSON lines with deviceSerialNumber and userId, all good: exit 0, result lines on stdout', async () => {
    const file = join(dir.path, 'rows.jsonl');
    writeFileSync(file, [{ deviceSerialNumber: DEVICE, userId: JANE }, { deviceSerialNumber: DEVICE, userId: '26c1e3d6-b31c-803e-cf7f-bdbe7687a72b' }].map((r) => JSON.stringify(r)).join('\n'));
    const run = await cli(['otp', 'disable', ...key(), '--from', file, '--concurrency', '2']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      lines(run.stdout).map((l) => [l.row, l.outcome, l.message]),
      [
        [1, 'ok', '014010008031 Disabled'],
        [2, 'ok', '014010008035 Disabled'],
      ],
    );
    assert.match(run.stderr, /2 rows, 2 ok, 0 failed/);
  });

  test('otp disable --from: a malformed line is one failed row, the run goes on and ends with its summary', async () => {
    const csv = join(dir.path, 'malformed.csv');
    writeFileSync(csv, ['device,user', `${DEVICE},${JANE}`, `"${DEVICE},${JANE}`, `${DEVICE},${JANE},extra`, `${DEVICE},jane.doe@example.com`, ''].join('\n'));
    const run = await cli(['otp', 'disable', ...key(), '--from', csv, '--concurrency', '1']);
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(
      lines(run.stdout).map((l) => [l.row, l.outcome, l.status, l.outcome === 'ok' ? '' : l.message]),
      [
        [1, 'ok', 200, ''],
        [2, 'failed', null, 'malformed.csv:3: unterminated quote'],
        [3, 'failed', null, 'malformed.csv:4: 3 fields where the header has 2'],
        [4, 'ok', 200, ''],
      ].map(([row, outcome, status, message]) => [row, outcome, status, message === '' ? '' : `${dir.path}/${message}`]),
    );
    assert.match(run.stderr, /otp disable: 4 rows, 2 ok, 2 failed/);
  });

  test('--from: a JSON number is refused (not sent as another serial), a value trimmed, a byte order mark skipped', async () => {
    const file = join(dir.path, 'numbers.jsonl');
    writeFileSync(file, `\uFEFF{"device":140100080,"user":"${JANE}"}\n{"device":"  ${DEVICE} ","user":" ${JANE}"}\n`);
    const run = await cli(['otp', 'enable', ...key(), '--from', file, '--concurrency', '1']);
    assert.equal(run.code, 1, run.stderr);
    const out = lines(run.stdout);
    assert.deepEqual(out.map((l) => [l.row, l.outcome, l.status]), [[1, 'failed', null], [2, 'ok', 200]]);
    assert.equal(out[0]!.message, `${file}:1: device must be a string, not a number: write it in quotes, as a JSON number loses digits and leading zeros`);
    assert.equal(out[1]!.userId, JANE);
  });

  test('--from a CSV without a device or a user column: a usage error before any row', async () => {
    const csv = join(dir.path, 'no-user.csv');
    writeFileSync(csv, `device,who\n${DEVICE},${JANE}\n`);
    const run = await cli(['otp', 'enable', ...key(), '--from', csv]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /no-user\.csv: the header row has no column user or userId or email/);
    assert.equal(run.stdout, '');
  });

  test('--from with --device is a usage error', async () => {
    const run = await cli(['otp', 'enable', ...key(), '--from', join(dir.path, 'rows.csv'), '--device', DEVICE]);
    assert.equal(run.code, 2);
  });
});
