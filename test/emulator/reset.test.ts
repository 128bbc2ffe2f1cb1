/**
 * The emulator's reset puts the database back exactly as the seed left it (src/emulator/store.ts,
 * src/store/sqlite/undo-log.ts): every table row for row, rowids and AUTOINCREMENT counters
 * included, whether it undoes the changes or, past `maxUndo` of them, writes the seeded bytes back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Ds100AdminClient } from '@ds100-admin/sdk';
import { auditEvent } from '../../src/domain/audit.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { makeDirectoryService } from '../../src/domain/directory.ts';
import type { Actor } from '../../src/domain/types.ts';
import { startEmulator } from '../../src/emulator/index.ts';
import { openResettableStore } from '../../src/emulator/store.ts';

/** Every table of the database file, schema and rows (with rowids), as a reader of the file sees it. */
function dump(file: string): unknown {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name, sql FROM sqlite_schema ORDER BY name").all() as Array<{ name: string; sql: string | null }>;
    const rows: Record<string, unknown[]> = {};
    for (const { name } of db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>) {
      rows[name] = db.prepare(`SELECT rowid AS rowid_, * FROM "${name}" ORDER BY rowid`).all();
    }
    return { tables, rows };
  } finally {
    db.close();
  }
}

test('a reset after API calls, token grants and seeds leaves every table as the seed left it', async () => {
  const emulator = await startEmulator({
    seed: {
      users: [{ id: 'u-1', email: 'one@example.com' }, { id: 'u-2', email: 'two@example.com' }],
      registrations: [
        { user: 'u-1', deviceSerialNumber: '170100001', tokenSerialNumber: '017010000131', tokenStatus: 'Disabled', pinSet: true },
        { user: 'u-2', deviceSerialNumber: '170100002', tokenSerialNumber: '017010000231' },
      ],
      oauthClients: [{ clientId: 'reader', scopes: ['rsa.user.read'], alg: 'ES256' }],
    },
  });
  const file = join(emulator.dataDir, 'emulator.db');
  try {
    const seeded = dump(file);
    for (let round = 0; round < 2; round++) {
      const key = await Ds100AdminClient.fromKeyFile(emulator.keyFiles.SuperAdmin, { retry: false });
      const oauth = await Ds100AdminClient.fromOAuthClient({ jwkFile: emulator.oauthClientJwkFile, clientId: emulator.oauthClientId, issuer: emulator.issuerUrl, retry: false });
      await key.enableOtp({ deviceSerialNumber: '170100001', userId: 'u-1' });
      await key.clearPin({ userId: 'u-1', tokenSerialNumber: '017010000131' });
      await oauth.deleteOtp({ deviceSerialNumber: '170100002', userId: 'u-2', tokenSerialNumber: '017010000231' });
      await assert.rejects(oauth.lookupUser({ email: 'nobody@example.com' }), { status: 404 });
      await emulator.control.setClock({ advanceSeconds: 3600 });
      await emulator.control.seed({
        users: [{ id: 'u-3', email: 'three@example.com' }],
        registrations: [{ user: 'u-3', deviceSerialNumber: '170100003', tokenSerialNumber: '017010000331' }],
        keys: [{ role: 'ReadOnly' }],
        oauthClients: [{ clientId: 'later', alg: 'ES256' }],
      });
      const later = await Ds100AdminClient.fromKeyFile(emulator.keyFiles.HelpDeskAdmin, { retry: false });
      await later.disableOtp({ deviceSerialNumber: '170100003', userId: 'u-3' });
      assert.notDeepEqual(dump(file), seeded, 'the calls changed the database');

      const { tookMs } = await emulator.control.reset();
      assert.equal(typeof tookMs, 'number');
      assert.deepEqual(dump(file), seeded, `round ${round}`);
    }
  } finally {
    await emulator.close();
  }
});

test('past maxUndo changes a reset writes the seeded bytes back, to the same state, and undoes again afterwards', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ds100-reset-'));
  const actor: Actor = { kind: 'operator', subject: 'test', role: null, clientAddress: 'local', requestId: null };
  const resettable = await openResettableStore(dir, { maxUndo: 4 });
  const { store } = resettable;
  const directory = makeDirectoryService({ store, clock: systemClock });
  const addUsers = (from: number, n: number) =>
    store.transaction(async (tx) => {
      for (let i = from; i < from + n; i++) await directory.within(tx).addUser({ id: `u-${i}`, email: `u${i}@example.com` });
      await tx.appendAudit(auditEvent(actor, systemClock.nowIso(), 'user.import', { count: String(n) }, 'changed', 200));
    });
  try {
    await addUsers(0, 3);
    await resettable.snapshot();
    const seeded = dump(join(dir, 'emulator.db'));

    await addUsers(10, 1);
    assert.equal(await resettable.restore(), 'undone');
    assert.deepEqual(dump(join(dir, 'emulator.db')), seeded);

    await addUsers(20, 10);
    store.recordAudit(auditEvent(actor, systemClock.nowIso(), 'user.lookup', {}, 'unchanged', 200));
    assert.equal(await resettable.restore(), 'rewritten');
    assert.deepEqual(dump(join(dir, 'emulator.db')), seeded);
    assert.equal((await store.audit()).length, 1, 'the events of before the reset are gone, the pending one too');

    await addUsers(30, 1);
    assert.equal(await resettable.restore(), 'undone', 'the reopened database records its changes again');
    assert.deepEqual(dump(join(dir, 'emulator.db')), seeded);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
