/**
 * The administration commands of the real `ds100-admin` binary, each run as a child process on a
 * data folder of its own: keys, users, ds100 registrations, the audit trail, --help, and the one
 * line (never a stack trace) that bad input gets. The state the commands leave is read back
 * through the store. Spawns are slow, so each test runs a handful of commands.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { makeKeyService } from '../../src/auth/keys.ts';
import { printAuditTrail } from '../../src/cli/audit.ts';
import { targetOf } from '../../src/http/plugins/audit.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { makeDirectoryService } from '../../src/domain/directory.ts';
import type { Actor, StoredAuditEvent } from '../../src/domain/types.ts';
import { SQLITE_FILE, openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/domain/store.ts';
import { tempDir } from '../support/stores.ts';
import { runCli, runCliAll, type CliResult } from '../support/serve-process.ts';

const operator: Actor = { kind: 'operator', subject: 'admin-test', role: null, clientAddress: 'local', requestId: null };
const dirs: Array<{ dispose(): void }> = [];
after(() => {
  for (const d of dirs) d.dispose();
});

function dataDir(): string {
  const d = tempDir('ds100-cli-');
  dirs.push(d);
  return d.path;
}

async function withStore<T>(data: string, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ dataDir: data });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

function ok(r: CliResult, what: string): string[] {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^ {4}at /m, `${what}: no stack trace`);
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** A refusal: a non-zero exit, one line on stderr that matches `names`, no stack trace anywhere. */
function refused(r: CliResult, names: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what}: exit code (stdout: ${r.stdout})`);
  assert.equal(r.signal, null, what);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, names, what);
  assert.doesNotMatch(r.stderr + r.stdout, / {4}at /, `${what}: no stack trace`);
}

// Two tests at a time: each mostly waits for its child processes.
describe('ds100-admin', { concurrency: 2 }, () => {
  describe('keys', () => {
    test('create writes a 0600 key file and prints its path last; the 11th key is refused; list; delete', async () => {
      const data = dataDir();
      const out = dataDir();
      const [created, createdOut] = await runCliAll([
        ['keys', 'create', '--role', 'HelpDeskAdmin', '--description', 'help desk automation', '--data', data, '--public-url', 'https://admin.example.com/'],
        ['keys', 'create', '--role', 'ReadOnly', '--data', data, '--out', out],
      ]);

      const path = ok(created!, 'keys create').at(-1)!;
      assert.equal(join(path, '..'), join(data, 'keys'), 'default folder <data>/keys');
      assert.equal(statSync(path).mode & 0o777, 0o600, 'key file mode');
      const keyFile = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
      assert.deepEqual(Object.keys(keyFile), ['customerName', 'accessID', 'description', 'accessKey', 'adminRestApiUrl']);
      assert.equal(basename(path), `${keyFile.accessID}.key`);
      assert.equal(keyFile.description, 'help desk automation');
      assert.equal(keyFile.adminRestApiUrl, 'https://admin.example.com/AdminInterface/restapi');
      assert.ok(typeof keyFile.customerName === 'string' && keyFile.customerName.length > 0);
      assert.match(keyFile.accessKey!, /^-----BEGIN RSA PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END RSA PRIVATE KEY-----\n?$/, 'PKCS#1 PEM');
      const privateKey = createPrivateKey(keyFile.accessKey!);
      assert.equal(privateKey.asymmetricKeyType, 'rsa');
      assert.ok(privateKey.asymmetricKeyDetails!.modulusLength! >= 2048);

      const outPath = ok(createdOut!, 'keys create --out').at(-1)!;
      assert.equal(join(outPath, '..'), out, '--out folder');
      assert.equal(statSync(outPath).mode & 0o777, 0o600);

      // The server keeps the public half, and only that.
      await withStore(data, async (store) => {
        const key = await store.apiKey(keyFile.accessID!);
        assert.equal(key?.role, 'HelpDeskAdmin');
        assert.equal(key?.publicKeyPem, createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }));
      });
      const secretLine = keyFile.accessKey!.split('\n')[5]!; // a line from the middle of the private key
      for (const f of readdirSync(data).filter((f) => f.startsWith(SQLITE_FILE))) {
        assert.ok(!readFileSync(join(data, f)).includes(secretLine), `${f} holds no private key material`);
      }

      // Eight more keys make ten.
      const ids = await withStore(data, async (store) => {
        const keys = makeKeyService({ store, clock: systemClock, publicUrl: 'https://admin.example.com' });
        for (let i = 0; i < 8; i++) await keys.create(operator, 'ReadOnly', `filler ${i}`);
        return (await store.apiKeys()).map((k) => k.accessId);
      });
      assert.equal(ids.length, 10);
      const filesBefore = readdirSync(join(data, 'keys'));

      const [eleventh, list, deleteUnknown] = await runCliAll([
        ['keys', 'create', '--role', 'SuperAdmin', '--data', data],
        ['keys', 'list', '--data', data],
        ['keys', 'delete', 'no-such-key', '--data', data],
      ]);
      refused(eleventh!, /at most 10/, 'the 11th key');
      assert.deepEqual(readdirSync(join(data, 'keys')), filesBefore, 'no key file written for the refused key');

      const listed = ok(list!, 'keys list');
      assert.equal(listed.length, 10);
      for (const id of ids) assert.ok(listed.some((l) => l.startsWith(id)), `${id} listed`);
      assert.match(listed.find((l) => l.startsWith(keyFile.accessID!))!, /HelpDeskAdmin.*help desk automation/);

      assert.deepEqual(ok(await runCli(['keys', 'delete', keyFile.accessID!, '--data', data]), 'keys delete'), [`deleted ${keyFile.accessID}`]);
      refused(deleteUnknown!, /no-such-key/, 'delete of an unknown key');
      await withStore(data, async (store) => {
        assert.equal(await store.apiKey(keyFile.accessID!), null, 'deleted');
        assert.equal((await store.apiKeys()).length, 9);
        const trail = (await store.audit()).map((e) => e.operation);
        assert.equal(trail.filter((o) => o === 'apikey.create').length, 10);
        assert.equal(trail.filter((o) => o === 'apikey.delete').length, 1);
      });
    });

    test('a key file that cannot be written leaves no key behind, and the cap is not used up', async () => {
      const data = dataDir();
      await withStore(data, async (store) => {
        const keys = makeKeyService({ store, clock: systemClock, publicUrl: 'https://admin.example.com' });
        for (let i = 0; i < 9; i++) await keys.create(operator, 'ReadOnly', `filler ${i}`);
      });
      const aFile = join(dataDir(), 'not-a-folder');
      writeFileSync(aFile, 'x');

      const [onAFile, underAFile] = await runCliAll([
        ['keys', 'create', '--role', 'SuperAdmin', '--data', data, '--out', aFile],
        ['keys', 'create', '--role', 'SuperAdmin', '--data', data, '--out', join(aFile, 'keys')],
      ]);
      refused(onAFile!, /EEXIST/, '--out names an existing file');
      refused(underAFile!, /ENOTDIR|EEXIST/, '--out under a file');
      assert.equal(readFileSync(aFile, 'utf8'), 'x', 'the file in the way is left alone');
      await withStore(data, async (store) => {
        assert.deepEqual((await store.apiKeys()).map((k) => k.role), Array(9).fill('ReadOnly'), 'no key was made');
        assert.equal((await store.audit()).filter((e) => e.operation === 'apikey.create').length, 9);
      });

      // The tenth key is still there to be made.
      const path = ok(await runCli(['keys', 'create', '--role', 'SuperAdmin', '--data', data]), 'the tenth key').at(-1)!;
      assert.equal(statSync(path).mode & 0o777, 0o600);
      await withStore(data, async (store) => assert.equal((await store.apiKeys()).length, 10));
    });
  });

  describe('users', () => {
    test('add, a duplicate refused, import from CSV, a JSON array and JSON lines', async () => {
      const data = dataDir();
      const csv = join(data, 'users.csv');
      writeFileSync(csv, 'Email,ID,firstName,last_name\r\nann@example.com,u-ann,Ann,"Smith, Jr."\r\n"bob@example.com",u-bob,"Bob ""the builder""",Stone\r\n\r\ncat@example.com,,Cat,\r\n');
      const jsonArray = join(data, 'users.json');
      writeFileSync(jsonArray, JSON.stringify([{ email: 'dan@example.com', id: 'u-dan', firstName: 'Dan' }, { emailAddress: 'eve@example.com' }]));
      const jsonLines = join(data, 'users.jsonl');
      writeFileSync(jsonLines, '{"email":"fay@example.com","id":"u-fay"}\n\n{"email":"gus@example.com","lastName":"Gus"}\n');

      const added = ok(await runCli(['users', 'add', '--email', 'Jane.Doe@example.com', '--id', 'u-jane', '--first-name', 'Jane', '--last-name', 'Doe', '--data', data]), 'users add');
      assert.deepEqual(added, ['u-jane']);
      const [dupEmail, fromCsv, fromJson, fromLines] = await runCliAll([
        ['users', 'add', '--email', 'jane.doe@EXAMPLE.com', '--id', 'u-other', '--data', data],
        ['users', 'import', csv, '--data', data],
        ['users', 'import', jsonArray, '--data', data],
        ['users', 'import', jsonLines, '--data', data],
      ]);
      refused(dupEmail!, /jane\.doe@EXAMPLE\.com.*already exists/, 'duplicate e-mail, another case');
      assert.deepEqual(ok(fromCsv!, 'import CSV'), ['imported 3 users, 0 already present, 0 failed']);
      assert.deepEqual(ok(fromJson!, 'import JSON array'), ['imported 2 users, 0 already present, 0 failed']);
      assert.deepEqual(ok(fromLines!, 'import JSON lines'), ['imported 2 users, 0 already present, 0 failed']);

      await withStore(data, async (store) => {
        const jane = await store.userByEmail('jane.doe@example.com');
        assert.deepEqual([jane?.id, jane?.firstName, jane?.lastName, jane?.emailAddress], ['u-jane', 'Jane', 'Doe', 'Jane.Doe@example.com']);
        assert.equal((await store.userById('u-ann'))?.lastName, 'Smith, Jr.', 'a quoted field with a comma');
        assert.equal((await store.userById('u-bob'))?.firstName, 'Bob "the builder"', 'a doubled quote');
        const cat = await store.userByEmail('cat@example.com');
        assert.ok(cat && cat.id.length > 0, 'an empty id gets a new one');
        assert.equal(cat?.lastName, null, 'an empty field is null');
        assert.equal((await store.userById('u-dan'))?.firstName, 'Dan');
        assert.ok(await store.userByEmail('eve@example.com'));
        assert.ok(await store.userById('u-fay'));
        assert.equal((await store.userByEmail('gus@example.com'))?.lastName, 'Gus');
        assert.equal(await store.userById('u-other'), null, 'the refused add left nothing');
      });
    });
  });

  describe('ds100', () => {
    test('register by id and by e-mail, a minted serial, import, and the sixth device refused', async () => {
      const data = dataDir();
      await withStore(data, async (store) => {
        const directory = makeDirectoryService({ store, clock: systemClock });
        await directory.addUser(operator, { id: 'u-1', email: 'one@example.com' });
        await directory.addUser(operator, { id: 'u-2', email: 'two@example.com' });
      });
      const csv = join(data, 'ds100.csv');
      writeFileSync(csv, 'user,deviceSerialNumber,tokenSerialNumber,status\nu-1,100000003,010000000399,disabled\n"ONE@example.com",100000004,,Enabled\ntwo@example.com,200000001,,\n');
      const json = join(data, 'ds100.json');
      writeFileSync(json, JSON.stringify([
        { userId: 'u-2', deviceSerialNumber: '200000002', tokenSerialNumber: '020000000250', tokenStatus: 'Disabled' },
        { user: 'u-1', deviceSerialNumber: '100000005' },
      ]));

      const [byId, byEmail] = await runCliAll([
        ['ds100', 'register', '--user', 'u-1', '--device', '100000001', '--data', data],
        ['ds100', 'register', '--user', 'One@Example.com', '--device', '100000002', '--token-serial', '000000000002', '--status', 'Disabled', '--data', data],
      ]);
      const minted = /^(\d+) registered to u-1 \(Enabled\)$/.exec(ok(byId!, 'register by id').at(-1)!);
      assert.ok(minted, byId!.stdout);
      assert.match(minted[1]!, /^0100000001\d{2}$/, "the minted serial is '0' + device + two digits");
      assert.deepEqual(ok(byEmail!, 'register by e-mail'), ['000000000002 registered to u-1 (Disabled)']);

      const [importedCsv, importedJson] = await runCliAll([
        ['ds100', 'import', csv, '--data', data],
        ['ds100', 'import', json, '--data', data],
      ]);
      assert.deepEqual(ok(importedCsv!, 'ds100 import CSV'), ['registered 3 credentials, 0 already present, 0 failed']);
      assert.deepEqual(ok(importedJson!, 'ds100 import JSON'), ['registered 2 credentials, 0 already present, 0 failed']);

      await withStore(data, async (store) => {
        assert.equal((await store.credentialByTokenSerial(minted[1]!))?.deviceSerialNumber, '100000001');
        assert.equal((await store.credentialByTokenSerial('000000000002'))?.tokenStatus, 'Disabled');
        assert.equal((await store.credentialByTokenSerial('010000000399'))?.tokenStatus, 'Disabled', 'status matched without regard to case');
        const fourth = await store.credentialsOfUserDevice('u-1', '100000004');
        assert.equal(fourth.length, 1);
        assert.match(fourth[0]!.tokenSerialNumber, /^0100000004\d{2}$/);
        assert.equal(fourth[0]!.tokenStatus, 'Enabled');
        assert.equal((await store.credentialsOfUserDevice('u-2', '200000001'))[0]?.tokenStatus, 'Enabled', 'default status');
        assert.equal((await store.credentialByTokenSerial('020000000250'))?.userId, 'u-2');
        assert.equal(await store.deviceCountOfUser('u-1'), 5);
      });

      refused(await runCli(['ds100', 'register', '--user', 'u-1', '--device', '100000006', '--data', data]), /u-1.*five/, 'the sixth device');
      await withStore(data, async (store) => {
        assert.equal(await store.deviceCountOfUser('u-1'), 5);
        assert.deepEqual(await store.credentialsByDevice('100000006'), []);
      });
    });
  });

  describe('imports', () => {
    /** A run that failed on some records: exit 1, the summary on stdout, each failure (then a last line) on stderr. */
    function partly(r: CliResult, summary: string, failures: RegExp[], what: string): void {
      assert.equal(r.code, 1, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.deepEqual(r.stdout.split('\n').filter((l) => l !== ''), [summary], what);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, failures.length + 1, `${what}: a line per failure and one more:\n${r.stderr}`);
      failures.forEach((f, i) => assert.match(lines[i]!, f, what));
      assert.match(lines.at(-1)!, new RegExp(`${failures.length} failed.*same file again`), what);
      assert.doesNotMatch(r.stderr, / {4}at /, `${what}: no stack trace`);
    }

    test('bad records are named by line, the others committed; the same file run again skips them and finishes', async () => {
      const data = dataDir();
      const csv = join(data, 'users.csv');
      const lines = [
        'email,id,firstName',
        'ann@example.com,u-ann,Ann',
        'bad-email,u-bad,Bad',
        `long@example.com,${'u'.repeat(100)},Long`,
        '"cat@example.com,u-cat,Cat',
        'dan@example.com,u-dan,Dan,extra',
        'eve@example.com,u-eve,Eve',
      ];
      // The first run was killed (SIGKILL) after committing the first record: here, a file cut short.
      writeFileSync(csv, `${lines.slice(0, 2).join('\n')}\n`);
      assert.deepEqual(ok(await runCli(['users', 'import', csv, '--data', data]), 'first run'), ['imported 1 users, 0 already present, 0 failed']);
      writeFileSync(csv, `${lines.join('\n')}\n`);
      const failures = [/users\.csv:3: .*'email'.*e-mail address/, /users\.csv:4: .*'userId'.*at most 36/, /users\.csv:5: unterminated quote/, /users\.csv:6: 4 fields where the header has 3/];
      partly(await runCli(['users', 'import', csv, '--data', data]), 'imported 1 users, 1 already present, 4 failed', failures, 'the whole file');
      partly(await runCli(['users', 'import', csv, '--data', data]), 'imported 0 users, 2 already present, 4 failed', failures, 'again');

      // A conflict: the file says another name for a user that is there.
      writeFileSync(csv, 'email,id,firstName\nann@example.com,u-ann,Anne\n');
      partly(await runCli(['users', 'import', csv, '--data', data]), 'imported 0 users, 0 already present, 1 failed', [/users\.csv:2: User u-ann already exists with a different firstName/], 'conflict');
      await withStore(data, async (store) => {
        assert.deepEqual([(await store.userById('u-ann'))?.firstName, (await store.userById('u-eve'))?.firstName], ['Ann', 'Eve']);
        assert.equal(await store.userById('u-bad'), null);
        assert.equal(await store.userByEmail('long@example.com'), null);
        assert.equal(await store.userById('u-dan'), null);
      });
    });

    test('JSON numbers are refused, values trimmed, and a byte order mark skipped in every format', async () => {
      const data = dataDir();
      const BOM = '\uFEFF';
      const users = join(data, 'users.json');
      writeFileSync(users, `${BOM}${JSON.stringify([{ email: '  ann@example.com ', id: ' u-ann ' }, { email: 'bob@example.com', id: 42 }])}`);
      const usersCsv = join(data, 'users.csv');
      writeFileSync(usersCsv, `${BOM}email,id\ncat@example.com,u-cat\n`);
      const ds100 = join(data, 'ds100.jsonl');
      writeFileSync(
        ds100,
        `${BOM}{"user":"u-ann","deviceSerialNumber":12345678901234567890}\n{"user":"u-ann","deviceSerialNumber":1e3}\n` +
          '{"user":"u-ann","deviceSerialNumber":"  140100099  "}\n{"user":"u-cat","deviceSerialNumber":"140100098\\u0000"}\n',
      );
      partly(await runCli(['users', 'import', users, '--data', data]), 'imported 1 users, 0 already present, 1 failed', [/users\.json: record 2: id must be a string, not a number/], 'users.json');
      assert.deepEqual(ok(await runCli(['users', 'import', usersCsv, '--data', data]), 'CSV with a BOM'), ['imported 1 users, 0 already present, 0 failed']);
      const numbers = /must be a string, not a number: write it in quotes/;
      partly(
        await runCli(['ds100', 'import', ds100, '--data', data]),
        'registered 1 credentials, 0 already present, 3 failed',
        [new RegExp(`ds100\\.jsonl:1: deviceSerialNumber ${numbers.source}`), new RegExp(`ds100\\.jsonl:2: deviceSerialNumber ${numbers.source}`), /ds100\.jsonl:4: .*'deviceSerialNumber'.*NUL/],
        'ds100.jsonl',
      );
      await withStore(data, async (store) => {
        assert.equal((await store.userById('u-ann'))?.emailAddress, 'ann@example.com');
        assert.ok(await store.userById('u-cat'));
        assert.equal((await store.credentialByTokenSerial('014010009931'))?.deviceSerialNumber, '140100099', 'minted from the trimmed serial');
        assert.deepEqual(await store.credentialsByDevice('12345678901234567000'), []);
        assert.deepEqual(await store.credentialsByDevice('1000'), []);
      });
    });

    test('a file without the required column is refused before anything is imported', async () => {
      const data = dataDir();
      const noEmail = join(data, 'no-email.csv');
      writeFileSync(noEmail, 'id,firstName\nu-1,Ann\n');
      const noDevice = join(data, 'no-device.csv');
      writeFileSync(noDevice, 'user,serial\nu-1,140100080\n');
      const empty = join(data, 'empty.csv');
      writeFileSync(empty, '');
      const [a, b, c] = await runCliAll([
        ['users', 'import', noEmail, '--data', data],
        ['ds100', 'import', noDevice, '--data', data],
        ['users', 'import', empty, '--data', data],
      ]);
      for (const [r, names] of [[a!, /no-email\.csv: the header row has no column email or emailAddress/], [b!, /no-device\.csv: the header row has no column deviceSerialNumber/], [c!, /empty\.csv has no header row/]] as const) {
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, names);
      }
      await withStore(data, async (store) => assert.equal(await store.userById('u-1'), null));
    });

    test('a full disk: the summary says what was committed and where to resume, and the same file run again finishes', async () => {
      const data = dataDir();
      const csv = join(data, 'users.csv');
      const total = 12_000;
      const rows = Array.from({ length: total }, (_, i) => `user${i}@example.com,u-${i},${'n'.repeat(80)}`);
      writeFileSync(csv, `email,id,firstName\n${rows.join('\n')}\n`);
      // Room for the first batch of users (the database and its write-ahead log), not for all of them.
      const full = await runCli(['users', 'import', csv, '--data', data], { fileSizeLimitKiB: 3000 });
      assert.equal(full.code, 1, full.stderr);
      const summary = /^imported (\d+) users, 0 already present, 0 failed$/.exec(full.stdout.trim());
      assert.ok(summary, full.stdout);
      const committed = Number(summary[1]);
      assert.ok(committed > 0 && committed < total, `committed ${committed}`);
      assert.match(full.stderr.trim(), new RegExp(`^ds100-admin: .*(disk|full|I/O).*nothing from .*users\\.csv:${committed + 2} on was imported: run the same file again to finish\\)$`));
      await withStore(data, async (store) => {
        assert.ok(await store.userById(`u-${committed - 1}`));
        assert.equal(await store.userById(`u-${committed}`), null);
      });
      const again = await runCli(['users', 'import', csv, '--data', data]);
      assert.deepEqual(ok(again, 'the same file again'), [`imported ${total - committed} users, ${committed} already present, 0 failed`]);
    });
  });

  describe('audit', () => {
    test('--json prints one event per line; --since keeps the later ones, in any ISO form', async () => {
      const data = dataDir();
      await withStore(data, async (store) => {
        for (const day of ['01', '02', '03']) {
          store.recordAudit({
            at: `2026-01-${day}T00:00:00.000Z`, kind: 'administrator', subject: `sub-${day}`, role: 'HelpDeskAdmin', clientAddress: '127.0.0.1', requestId: `r-${day}`,
            operation: 'ds100.enable', target: { userId: `u-${day}`, deviceSerialNumber: '140100080' }, outcome: 'changed', status: 200,
          });
        }
      });
      const [all, sinceOffset, text, limited] = await runCliAll([
        ['audit', '--json', '--data', data],
        ['audit', '--json', '--since', '2026-01-02T01:00:00+01:00', '--data', data],
        ['audit', '--data', data],
        ['audit', '--json', '--limit', '2', '--data', data],
      ]);
      const parse = (r: CliResult, what: string) => ok(r, what).map((l) => JSON.parse(l) as StoredAuditEvent);
      const events = parse(all!, 'audit --json');
      assert.deepEqual(events.map((e) => e.subject), ['sub-01', 'sub-02', 'sub-03']);
      assert.deepEqual(events[0], {
        seq: events[0]!.seq, at: '2026-01-01T00:00:00.000Z', kind: 'administrator', subject: 'sub-01', role: 'HelpDeskAdmin', clientAddress: '127.0.0.1', requestId: 'r-01',
        operation: 'ds100.enable', target: { userId: 'u-01', deviceSerialNumber: '140100080' }, outcome: 'changed', status: 200, loggedAt: events[0]!.loggedAt,
      });
      assert.deepEqual(parse(sinceOffset!, '--since +01:00').map((e) => e.subject), ['sub-02', 'sub-03']);
      const lines = ok(text!, 'audit');
      assert.equal(lines.length, 3);
      assert.match(lines[1]!, /2026-01-02T00:00:00\.000Z.*ds100\.enable.*changed.*200.*sub-02/);
      assert.deepEqual(parse(limited!, 'audit --limit').map((e) => e.subject), ['sub-01', 'sub-02']);
    });

    test('--user, --admin and --activity read through the console\'s query: by id or e-mail address, by activity key', async () => {
      const data = dataDir();
      const jane = await withStore(data, async (store) => {
        const user = await makeDirectoryService({ store, clock: systemClock }).addUser(operator, { email: 'Jane@Example.com' });
        store.recordAudit({
          at: '2099-01-01T00:00:00.000Z', kind: 'administrator', subject: 'key-1', role: 'HelpDeskAdmin', clientAddress: '127.0.0.1', requestId: 'r-1',
          operation: 'ds100.disable', target: { userId: user.id, deviceSerialNumber: '140100080' }, outcome: 'changed', status: 200,
        });
        store.recordAudit({
          at: '2099-01-02T00:00:00.000Z', kind: 'administrator', subject: 'key-1', role: 'HelpDeskAdmin', clientAddress: '127.0.0.1', requestId: 'r-2',
          operation: 'ds100.disable', target: { userId: user.id, deviceSerialNumber: '140100080' }, outcome: 'unchanged', status: 200,
        });
        store.recordAudit({
          at: '2099-01-03T00:00:00.000Z', kind: 'administrator', subject: 'key-2', role: 'ReadOnly', clientAddress: '127.0.0.1', requestId: 'r-3',
          operation: 'users.lookup', target: { email: 'jane@example.com' }, outcome: 'unchanged', status: 200,
        });
        return user.id;
      });
      const [byEmail, byId, byAdmin, byActivity, all] = await runCliAll([
        ['audit', '--json', '--user', 'JANE@example.com', '--data', data],
        ['audit', '--json', '--user', jane, '--since', '2099-01-02T00:00:00Z', '--data', data],
        ['audit', '--json', '--admin', 'key-2', '--data', data],
        ['audit', '--activity', 'DS100_OTP_DISABLE_SUCCESS', '--data', data],
        ['audit', '--json', '--admin', 'key-1', '--activity', 'DS100_OTP_DISABLE_UNCHANGED', '--user', 'jane@example.com', '--data', data],
      ]);
      const requests = (r: CliResult, what: string) => ok(r, what).map((l) => (JSON.parse(l) as StoredAuditEvent).requestId);
      assert.deepEqual(requests(byEmail!, '--user e-mail'), [null, 'r-1', 'r-2', 'r-3'], 'user.add, then the events oldest first');
      assert.deepEqual(requests(byId!, '--user id --since'), ['r-2', 'r-3']);
      assert.deepEqual(requests(byAdmin!, '--admin'), ['r-3']);
      const lines = ok(byActivity!, '--activity');
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /^2099-01-01T00:00:00\.000Z {2}ds100\.disable {4}changed {7}200 {2}key-1 {2}127\.0\.0\.1 {2}userId=/, 'the table as before');
      assert.deepEqual(requests(all!, 'all three'), ['r-2']);
    });

    test('each kind of caller shows as itself: an OAuth client as oauth:<id>, the command line as cli:<user>, an unauthenticated caller as -', async () => {
      const data = dataDir();
      const clientId = '0b5c6a4e-1111-4000-8000-000000000002';
      const base = { clientAddress: '127.0.0.1', requestId: 'r-1', outcome: 'unchanged', status: 200 } as const;
      await withStore(data, async (store) => {
        store.recordAudit({ ...base, at: '2026-01-01T00:00:01.000Z', kind: 'oauth_client', subject: clientId, role: null, operation: 'ds100.lookup', target: { deviceSerialNumber: '140100080' } });
        store.recordAudit({ ...base, at: '2026-01-01T00:00:02.000Z', kind: 'operator', subject: 'cli:alice', role: null, operation: 'user.add', target: { userId: 'u-1' }, outcome: 'changed' });
        store.recordAudit({
          ...base, at: '2026-01-01T00:00:03.000Z', kind: 'unauthenticated', subject: null, role: null, operation: 'oauth.token',
          target: { clientId: 'ghost', clientUnverified: true, refusal: 'unknown_client' }, outcome: 'denied', status: 401,
        });
        store.recordAudit({ ...base, at: '2026-01-01T00:00:04.000Z', kind: 'administrator', subject: 'key-1', role: 'ReadOnly', operation: 'users.lookup', target: {} });
      });
      const [text, json] = await runCliAll([
        ['audit', '--data', data],
        ['audit', '--json', '--data', data],
      ]);
      const lines = ok(text!, 'audit');
      assert.equal(lines.length, 4);
      assert.match(lines[0]!, new RegExp(`ds100\\.lookup\\s+unchanged\\s+200  oauth:${clientId}  127\\.0\\.0\\.1`));
      assert.match(lines[1]!, /user\.add\s+changed\s+200 {2}cli:alice {2}/);
      assert.match(lines[2]!, /oauth\.token\s+denied\s+401 {2}- {2}127\.0\.0\.1 {2}clientId=ghost clientUnverified=true refusal=unknown_client$/);
      assert.match(lines[3]!, /users\.lookup\s+unchanged\s+200 {2}key-1 {2}/);
      const events = ok(json!, 'audit --json').map((l) => JSON.parse(l) as StoredAuditEvent);
      assert.deepEqual(events.map((e) => [e.kind, e.subject, e.role]), [
        ['oauth_client', clientId, null], ['operator', 'cli:alice', null], ['unauthenticated', null, null], ['administrator', 'key-1', 'ReadOnly'],
      ]);
    });

    test('a value sent in a request cannot forge a line: control characters are shown escaped, --json keeps them exact', async () => {
      const data = dataDir();
      const superAdmin = '5b7a1c0e-0000-4000-8000-000000000001';
      // What a ReadOnly key's users/lookup leaves in the trail when its e-mail carries a fake
      // line crediting a change to the SuperAdmin key, and terminal sequences to hide its own.
      const email = `x@example.com\n2026-01-01T00:00:00.000Z  ds100.disable    changed       200  ${superAdmin}  10.0.0.1\r\u001b[1A\u001b[2K\u009b1A\u2028\u202e\u007f\\n`;
      const target = targetOf({ email });
      await withStore(data, async (store) => {
        store.recordAudit({
          at: '2026-01-01T00:00:00.000Z', kind: 'administrator', subject: 'read-only-key', role: 'ReadOnly', clientAddress: '127.0.0.1\u001b[0m', requestId: 'r-1',
          operation: 'users.lookup', target, outcome: 'not_found', status: 404,
        });
      });
      const [text, json] = await runCliAll([
        ['audit', '--data', data],
        ['audit', '--json', '--data', data],
      ]);
      // eslint-disable-next-line no-control-regex -- finding control characters is the point
      const acted = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
      for (const r of [text!, json!]) assert.doesNotMatch(r.stdout, acted, 'no character a terminal acts on');
      const lines = ok(text!, 'audit');
      assert.equal(lines.length, 1, `one event, one line:\n${text!.stdout}`);
      assert.ok(!lines[0]!.includes(`${superAdmin}  10.0.0.1\n`));
      assert.ok(
        lines[0]!.endsWith('email=x@example.com\\n2026-01-01T00:00:00.000Z  ds100.disable    changed       200  ' +
          `${superAdmin}  10.0.0.1\\r\\x1b[1A\\x1b[2K\\x9b1A\\u2028\\u202e\\x7f\\\\n`),
        lines[0],
      );
      assert.ok(lines[0]!.includes('  127.0.0.1\\x1b[0m  '), lines[0]);
      const events = ok(json!, 'audit --json').map((l) => JSON.parse(l) as StoredAuditEvent);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.target.email, email, '--json gives the value exactly as sent');
    });

    test('prints the trail as it reads it, a page at a time, and waits for the reader of its output', async () => {
      let pagesRead = 0;
      const event = (n: number): StoredAuditEvent => ({
        seq: n, at: `2026-01-01T00:00:0${n}.000Z`, kind: 'administrator', subject: `sub-${n}`, role: 'ReadOnly', clientAddress: '127.0.0.1', requestId: `r-${n}`,
        operation: 'users.lookup', target: { email: `e${n}@example.com` }, outcome: 'unchanged', status: 200, loggedAt: `2026-01-01T00:00:0${n}.000Z`,
      });
      async function* pages() {
        for (let p = 0; p < 3; p++) {
          pagesRead++;
          yield [event(2 * p + 1), event(2 * p + 2)];
        }
      }
      // An output that takes a page and holds it until released, as a slow pipe does.
      const written: Array<{ text: string; pagesRead: number }> = [];
      let release: (() => void) | undefined;
      const out = new Writable({
        highWaterMark: 1,
        write(chunk: Buffer, _encoding, done) {
          written.push({ text: chunk.toString(), pagesRead });
          release = done;
        },
      });
      const printing = printAuditTrail(pages(), true, out);
      for (let page = 1; page <= 3; page++) {
        while (written.length < page) await new Promise((r) => setImmediate(r));
        await new Promise((r) => setImmediate(r));
        assert.equal(pagesRead, page, `page ${page} is written before page ${page + 1} is read`);
        release!();
      }
      await printing;
      assert.deepEqual(written.map((w) => w.pagesRead), [1, 2, 3]);
      const lines = written.map((w) => w.text).join('').split('\n').filter((l) => l !== '');
      assert.deepEqual(lines.map((l) => (JSON.parse(l) as StoredAuditEvent).seq), [1, 2, 3, 4, 5, 6]);

      // A reader that goes away (`audit | head`) ends the printing quietly; another failure is reported.
      const closedPipe = new Writable({ write: (_c, _e, done) => done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })) });
      await printAuditTrail(pages(), false, closedPipe);
      const fullDisk = new Writable({ write: (_c, _e, done) => done(Object.assign(new Error('write ENOSPC'), { code: 'ENOSPC' })) });
      await assert.rejects(printAuditTrail(pages(), false, fullDisk), /ENOSPC/);
    });
  });

  describe('--help', () => {
    test('every command exits 0 and names its flags', async () => {
      const expected: Array<[string[], string[]]> = [
        [[], ['serve', 'keys', 'users', 'ds100', 'audit']], // the groups' subcommands are checked through their own --help
        [['serve'], ['--host', '--port', '--data', '--public-url', '--demo', '--tls-cert', '--tls-key', '--tls-self-signed']],
        [['keys', 'create'], ['--role', '--description', '--data', '--out', 'SuperAdmin', 'HelpDeskAdmin', 'ReadOnly']],
        [['keys', 'list'], ['--data', '--json']],
        [['keys', 'delete'], ['accessID', '--data']],
        [['users', 'add'], ['--email', '--id', '--first-name', '--last-name', '--data']],
        [['users', 'import'], ['<file>', 'CSV', 'JSON', '--data']],
        [['ds100', 'register'], ['--user', '--device', '--token-serial', '--status', '--data']],
        [['ds100', 'import'], ['<file>', '--data']],
        [['audit'], ['--since', '--json', '--data', '--user', '--admin', '--activity']],
      ];
      const results = await runCliAll(expected.map(([command]) => [...command, '--help']));
      for (const [i, [command, words]] of expected.entries()) {
        const r = results[i]!;
        const what = `${command.join(' ') || 'ds100-admin'} --help`;
        assert.equal(r.code, 0, `${what}: exit ${r.code} ${r.stderr}`);
        assert.match(r.stdout, /^Usage: ds100-admin/, what);
        for (const w of words) assert.ok(r.stdout.includes(w), `${what} mentions ${w}:\n${r.stdout}`);
      }
    });
  });

  describe('bad input', () => {
    test('one line on stderr naming the problem, a non-zero exit, never a stack trace', async () => {
      const data = dataDir();
      const missing = join(data, 'missing.csv');

      const cases: Array<[string[], RegExp]> = [
        [['keys', 'create', '--role', 'ReadOnly', '--frobnicate', '--data', data], /unknown option '--frobnicate'/],
        [['keys', 'create', '--role', 'Root', '--data', data], /--role.*Root/],
        [['users', 'add', '--data', data], /--email/],
        [['users', 'import', missing, '--data', data], new RegExp(`${missing.replace(/[.]/g, '\\.')}`)],
        [['users', 'add', '--email', 'bad-email', '--data', data], /'email'.*e-mail address/],
        [['users', 'add', '--email', 'ann@example.com', '--id', 'u'.repeat(37), '--data', data], /'userId'.*at most 36/],
        [['audit', '--since', 'yesterday', '--data', data], /--since.*yesterday/],
        [['audit', '--activity', 'DS100_FLY', '--data', data], /--activity must be an activity key.*"DS100_FLY"/],
        [['serve', '--port', '99999', '--data', data], /--port/],
        // A bare --trust-proxy believed any X-Forwarded-For; it now needs to know whose.
        [['serve', '--data', data, '--trust-proxy'], /--trust-proxy.*argument missing/],
        [['serve', '--trust-proxy', 'yes', '--data', data], /--trust-proxy takes the number of proxies.*"yes"/],
        [['serve', '--trust-proxy', '10.0.0.0/33', '--data', data], /--trust-proxy.*"10\.0\.0\.0\/33"/],
        [['serve', '--trust-proxy', '0', '--data', data], /--trust-proxy.*not 0/],
      ];
      const results = await runCliAll(cases.map(([args]) => args));
      for (const [i, [args, names]] of cases.entries()) refused(results[i]!, names, args.join(' '));
      assert.equal(existsSync(join(data, 'keys')), false, 'no key was made by a refused command');
      await withStore(data, async (store) => assert.equal(await store.userById('u-1'), null, 'no refused import left a user'));
    });
  });
});
