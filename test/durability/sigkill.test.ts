/**
 * Durability with real processes: every change acknowledged with a 200 survives SIGKILL of the
 * server right after the last answer (the store syncs before it answers), together with its
 * audit event; SIGTERM lets a request in flight finish, exits 0 and closes the database cleanly.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { Credential, StoredAuditEvent } from '../../src/domain/types.ts';
import { SQLITE_FILE } from '../../src/store/open.ts';
import { API, callApi, readKeyFile, runCli, startServe, stopServe, tokenFromKeyFile, type ServeProcess } from '../support/serve-process.ts';
import { tempDir } from '../support/stores.ts';

const DEVICE = '140100080';
const JANE = 'ece30fe9-414c-7536-5403-0656220b3046'; // 014010008031, Disabled in the demo
const JOHN = '87927fb7-e185-4c33-c7e3-8e077675973c'; // 014010008038 and 014010008039 (PIN set)
const ALEX = '26c1e3d6-b31c-803e-cf7f-bdbe7687a72b'; // 014010008035, Disabled

const running: Array<ServeProcess | undefined> = [];
const dirs: Array<{ dispose(): void }> = [];
after(async () => {
  for (const s of running) await stopServe(s);
  for (const d of dirs) d.dispose();
});

function dataDir(): string {
  const d = tempDir('ds100-durability-');
  dirs.push(d);
  return d.path;
}

async function auditTrail(data: string): Promise<StoredAuditEvent[]> {
  const r = await runCli(['audit', '--json', '--data', data]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as StoredAuditEvent);
}

describe('SIGKILL right after the last 200', () => {
  test('every acknowledged change, and its audit event, is there after a restart', async () => {
    const data = dataDir();
    const first = await startServe(['--data', data, '--port', '0', '--demo', '--log-level', 'warn']);
    running.push(first);
    assert.ok(first.bootstrapKeyFile, `bootstrap key file printed: ${first.lines.join('\n')}`);
    const keyFile = first.bootstrapKeyFile;
    const subject = readKeyFile(keyFile).accessID;
    const token = await tokenFromKeyFile(keyFile, first.url);

    // 31 alternating changes of Jane's credential, one after the other: the last one enables it.
    const toggles: Array<{ verb: string; changedAt: string }> = [];
    for (let i = 0; i < 31; i++) {
      const verb = i % 2 === 0 ? 'enable' : 'disable';
      const r = await callApi(first.url, token, 'PATCH', `/v1/ds100/${verb}/otp`, { deviceSerialNumber: DEVICE, userId: JANE });
      assert.equal(r.status, 200, `${verb} ${i}: ${r.text}`);
      const item = (r.json as Array<{ tokenStatus: string; tokenStatusChangedAt: string }>)[0]!;
      assert.equal(item.tokenStatus, verb === 'enable' ? 'Enabled' : 'Disabled');
      toggles.push({ verb, changedAt: item.tokenStatusChangedAt });
    }
    // Then three different changes at once, so that they share group commits.
    const burst = await Promise.all([
      callApi(first.url, token, 'PATCH', '/v1/ds100/enable/otp', { deviceSerialNumber: DEVICE, userId: ALEX }),
      callApi(first.url, token, 'DELETE', '/v1/ds100/delete/otp', { tokenSerialNumber: '014010008038', deviceSerialNumber: DEVICE, userId: JOHN }),
      callApi(first.url, token, 'PATCH', '/v1/ds100/clearPin/otp', { tokenSerialNumber: '014010008039', userId: JOHN }),
    ]);
    first.child.kill('SIGKILL');
    assert.deepEqual(burst.map((r) => r.status), [200, 200, 200], burst.map((r) => r.text).join('\n'));
    assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });

    // The audit trail, read by the CLI from the files the killed process left.
    const events = await auditTrail(data);
    const changes = events.filter((e) => e.subject === subject && e.outcome === 'changed');
    assert.deepEqual(
      changes.filter((e) => e.target.userId === JANE).map((e) => e.operation),
      toggles.map((t) => `ds100.${t.verb}`),
      'one changed event per acknowledged toggle, in order',
    );
    for (const [operation, userId] of [['ds100.enable', ALEX], ['ds100.delete', JOHN], ['ds100.clearPin', JOHN]] as const) {
      assert.equal(
        changes.filter((e) => e.operation === operation && e.target.userId === userId).length,
        1,
        `${operation} for ${userId} in the trail`,
      );
    }
    assert.ok(changes.every((e) => e.status === 200 && e.role === 'SuperAdmin'));

    // Restart on the same folder (without --demo, which would bring back the deleted credential).
    const second = await startServe(['--data', data, '--port', '0', '--log-level', 'warn']);
    running.push(second);
    assert.equal(second.bootstrapKeyFile, undefined, 'no second bootstrap key on a folder that has one');
    const token2 = await tokenFromKeyFile(keyFile, second.url);
    const lookup = await callApi(second.url, token2, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: DEVICE });
    assert.equal(lookup.status, 200, lookup.text);
    const bySerial = new Map((lookup.json as Credential[]).map((c) => [c.tokenSerialNumber, c]));

    const jane = bySerial.get('014010008031');
    assert.equal(jane?.tokenStatus, 'Enabled', 'the last toggle');
    assert.equal(jane?.tokenStatusChangedAt, toggles.at(-1)!.changedAt);
    assert.equal(jane?.tokenStatusChangedBy, subject);
    assert.equal(bySerial.get('014010008035')?.tokenStatus, 'Enabled', "Alex's enable");
    assert.equal(bySerial.has('014010008038'), false, 'the delete');
    assert.equal(bySerial.get('014010008039')?.pinSet, false, 'the PIN clear');

    second.child.kill('SIGTERM');
    assert.deepEqual(await second.exited, { code: 0, signal: null });
  });
});

describe('SIGTERM', () => {
  test('a request in flight completes, the process exits 0, the database is closed cleanly', async () => {
    const data = dataDir();
    const server = await startServe(['--data', data, '--port', '0', '--demo', '--log-level', 'info']);
    running.push(server);
    const token = await tokenFromKeyFile(server.bootstrapKeyFile!, server.url);
    const body = JSON.stringify({ deviceSerialNumber: DEVICE, userId: JANE });
    const { port } = new URL(server.url);

    // Headers first, with Expect: 100-continue: the 100 says the server has taken the request in.
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'PATCH',
      path: `${API}/v1/ds100/enable/otp`,
      agent: false,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        expect: '100-continue',
      },
    });
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
    });
    await new Promise<void>((resolve) => req.once('continue', resolve));
    req.flushHeaders();

    server.child.kill('SIGTERM');
    await server.waitForLine(/shutting down/, 30_000);
    // The server is draining; only now does the body arrive.
    req.end(body);
    const r = await answer;
    assert.equal(r.status, 200, r.text);
    assert.equal((JSON.parse(r.text) as Array<{ tokenStatus: string }>)[0]?.tokenStatus, 'Enabled');

    assert.deepEqual(await server.exited, { code: 0, signal: null });
    assert.doesNotMatch(server.lines.join('\n'), /shutdown failed/);

    // Closed cleanly: the last connection checkpointed the WAL and removed it.
    const file = join(data, SQLITE_FILE);
    assert.equal(existsSync(`${file}-wal`), false, 'no WAL left behind');
    const db = new Database(file);
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      assert.equal(db.prepare("SELECT token_status FROM credentials WHERE token_serial = '014010008031'").pluck().get(), 'Enabled');
      const last = db.prepare('SELECT operation, outcome FROM audit_events ORDER BY seq DESC LIMIT 1').get();
      assert.deepEqual(last, { operation: 'ds100.enable', outcome: 'changed' });
    } finally {
      db.close();
    }
  });
});
