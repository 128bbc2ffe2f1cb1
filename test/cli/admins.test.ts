/**
 * `ds100-admin admins invite|list|revoke` and the console switches of `serve` (`--demo` invites
 * a demo SuperAdmin, `--no-console`), each through the real binary on a data folder of its own.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { openStore } from '../../src/store/open.ts';
import { tempDir } from '../support/stores.ts';
import { runCli, startServe, stopServe, type ServeProcess } from '../support/serve-process.ts';

const folders: Array<{ dispose(): void }> = [];
let server: ServeProcess | undefined;
after(async () => {
  await stopServe(server);
  for (const f of folders) f.dispose();
});
const folder = (): string => {
  const f = tempDir('ds100-admins-');
  folders.push(f);
  return f.path;
};

test('admins invite prints a one-time link; list shows the administrator; revoke revokes', async () => {
  const data = folder();
  const invited = await runCli(['admins', 'invite', '--data', data, '--email', 'pat@example.com', '--role', 'HelpDeskAdmin', '--public-url', 'https://admin.example.com/']);
  assert.equal(invited.code, 0, invited.stderr);
  assert.match(invited.stdout, /^https:\/\/admin\.example\.com\/console\/#\/enrol\/[A-Za-z0-9_-]{43}\n$/, 'the link alone on stdout');
  assert.match(invited.stderr, /pat@example\.com \(HelpDeskAdmin\), single use, valid until \d{4}-/);

  const listed = await runCli(['admins', 'list', '--data', data]);
  assert.match(listed.stdout, /^\S+ {2}HelpDeskAdmin {2}invited {2}pat@example\.com\n$/);

  const wrongRole = await runCli(['admins', 'invite', '--data', data, '--email', 'x@example.com', '--role', 'Root']);
  assert.equal(wrongRole.code, 2);
  assert.match(wrongRole.stderr, /Allowed choices are SuperAdmin, HelpDeskAdmin, ReadOnly/);

  const revoked = await runCli(['admins', 'revoke', '--data', data, 'PAT@example.com']);
  assert.equal(revoked.code, 0, revoked.stderr);
  const missing = await runCli(['admins', 'revoke', '--data', data, 'nobody@example.com']);
  assert.equal(missing.code, 3, 'not found');
  assert.equal(missing.stderr, 'ds100-admin: Administrator nobody@example.com not found\n');

  const store = await openStore({ dataDir: data });
  try {
    const [pat] = await store.admins();
    assert.ok(pat?.revokedAt, 'revoked');
    const operations = (await store.audit()).map((e) => [e.operation, e.subject?.startsWith('cli:')]);
    assert.deepEqual(operations, [['admin.invite', true], ['admin.revoke', true]]);
  } finally {
    await store.close();
  }
});

test('serve --demo prints an enrolment link for a demo SuperAdmin; --no-console serves no console', async () => {
  const data = folder();
  server = await startServe(['--data', data, '--port', '0', '--demo', '--log-level', 'warn']);
  const line = await server.waitForLine(/^console: /);
  // Served at 127.0.0.1, the console is named localhost: WebAuthn takes no IP address.
  assert.match(line, new RegExp(`^console: enrol the demo SuperAdmin demo-admin@example\\.com at ${server.url.replace('127.0.0.1', 'localhost')}/console/#/enrol/[A-Za-z0-9_-]{43}$`));
  const page = await fetch(`${server.url}/console/`);
  // Served, or (a checkout that has not run `npm run build`) a 503 that says how to build it.
  assert.ok(page.status === 200 || page.status === 503, String(page.status));
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  server.child.kill('SIGTERM');
  await server.exited;

  server = await startServe(['--data', data, '--port', '0', '--no-console', '--log-level', 'warn']);
  assert.equal((await fetch(`${server.url}/console/`)).status, 404);
  assert.equal((await fetch(`${server.url}/console/api/session`)).status, 404);
  assert.ok(!server.lines.some((l) => l.startsWith('console:')));
});
