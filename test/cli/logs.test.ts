/**
 * The event log for people and programs (contract 11): the SDK's iterator over a window, and
 * `ds100-admin logs admin|user` through the API with a key file, against a real server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Ds100AdminClient, type AdminLogEntry, type UserEventLogEntry } from '@ds100-admin/sdk';
import { systemClock } from '../../src/domain/clock.ts';
import { makeDirectoryService } from '../../src/domain/directory.ts';
import type { Actor } from '../../src/domain/types.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { accessToken, createClient } from '../support/oauth.ts';
import { tempDir } from '../support/stores.ts';

const BIN = fileURLToPath(new URL('../../bin/ds100-admin.js', import.meta.url));
const seeder: Actor = { kind: 'operator', subject: 'logs-test', role: null, clientAddress: 'local', requestId: null };

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.DS100_KEY_FILE;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

let server: TestServer;
const dir = tempDir('ds100-cli-logs-');
let keyFile: string;
let since: string;
before(async () => {
  server = await startServer();
  keyFile = join(dir.path, 'auditor.key');
  writeFileSync(keyFile, JSON.stringify(server.keys.ReadOnly.keyFile), { mode: 0o600 });
  since = new Date(Date.now() - 1).toISOString();
  const directory = makeDirectoryService({ store: server.store, clock: systemClock });
  for (let i = 0; i < 7; i++) {
    const user = await directory.addUser(seeder, { email: `logs${i}@example.com` });
    await directory.register(seeder, { user: user.id, deviceSerialNumber: String(810_000_000 + i) });
  }
  await server.store.flush();
});
after(async () => {
  await server.close();
  dir.dispose();
});

/** The trail's events after `since` that the admin log carries. */
const trailSince = async (from: string) => (await server.store.audit()).filter((e) => e.loggedAt > from && !e.operation.endsWith('.export'));

describe('the SDK reads an event log window a page at a time', () => {
  test('for await over adminLog pages for you: every event of the window once, oldest first', async () => {
    const client = await Ds100AdminClient.fromKeyFile(server.keys.ReadOnly.keyFile, { retry: false });
    const until = new Date().toISOString();
    const events: AdminLogEntry[] = [];
    for await (const event of client.adminLog({ since, until, pageSize: 3 })) events.push(event);
    const expected = (await trailSince(since)).filter((e) => e.loggedAt <= until);
    assert.ok(expected.length >= 14);
    assert.deepEqual(events.map((e) => e.eventId), expected.map((e) => e.seq));
    const users: UserEventLogEntry[] = [];
    for await (const event of client.userEventLog({ since, until })) users.push(event);
    assert.deepEqual(users.map((e) => e.activityKey), Array(7).fill('DS100_REGISTER_SUCCESS'));
  });
});

describe('ds100-admin logs', () => {
  test('admin --json: one JSON object per line, the same events as the API', async () => {
    const run = await cli(['logs', 'admin', '--since', since, '--key-file', keyFile, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as AdminLogEntry);
    const expected = (await trailSince(since)).filter((e) => e.seq <= lines.at(-1)!.eventId);
    assert.deepEqual(lines.map((e) => e.eventId), expected.map((e) => e.seq));
  });

  test('user --table: a line per event; a bad --since is a usage error', async () => {
    const run = await cli(['logs', 'user', '--since', since.replace('Z', '-00:00'), '--key-file', keyFile, '--table']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 7);
    assert.match(lines[0]!, /DS100_REGISTER_SUCCESS\s+SUCCESS\s+\S+\s+An administrator registered your DS100 810000000\./);
    const bad = await cli(['logs', 'admin', '--since', 'yesterday', '--key-file', keyFile]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--since must be an ISO 8601 time/);
  });

  test('admin --table through an OAuth client: its own token grant and lookup read as the client, not the command line', async () => {
    const client = await createClient(server.store, ['rsa.audit.admin', 'rsa.authenticator.ds100.read']);
    const jwkFile = join(dir.path, `${client.clientId}.json`);
    writeFileSync(jwkFile, JSON.stringify(client.jwk), { mode: 0o600 });
    const from = new Date().toISOString();
    const token = await accessToken(client, server.url, 'rsa.authenticator.ds100.read');
    assert.equal((await server.request('POST', '/v1/ds100/lookup', { deviceSerialNumber: '810000000' }, { token })).status, 200);
    const oauth = ['--jwk-file', jwkFile, '--client-id', client.clientId, '--issuer', `${server.url}/oauth`, '--scope', 'rsa.audit.admin'];
    const run = await cli(['logs', 'admin', '--since', from, ...oauth, '--table']);
    assert.equal(run.code, 0, run.stderr);
    const id = client.clientId.replace(/-/g, '\\-');
    assert.match(run.stdout, new RegExp(`OAUTH_TOKEN_ISSUE_SUCCESS\\s+SUCCESS\\s+${id}  OAuth client ${id} was issued an access token for scope rsa\\.authenticator\\.ds100\\.read\\.`));
    assert.match(run.stdout, new RegExp(`DS100_LOOKUP_UNCHANGED\\s+SUCCESS\\s+${id}  OAuth client ${id} looked up the OTP credentials of DS100 810000000\\.`));
    assert.doesNotMatch(run.stdout, /command line/);
  });

  test('the HelpDeskAdmin key may not read it: a 403 says so', async () => {
    const helpDesk = join(dir.path, 'helpdesk.key');
    writeFileSync(helpDesk, JSON.stringify(server.keys.HelpDeskAdmin.keyFile), { mode: 0o600 });
    const run = await cli(['logs', 'admin', '--key-file', helpDesk, '--json']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /Not authorized/);
  });
});
