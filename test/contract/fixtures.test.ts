/**
 * Spec 8: the vendor's published examples, replayed in file order against a `--demo` server.
 * Values are the vendor's; timestamps and the admin subject are the server's own and are compared
 * by form. The fixture's notes say where the published text is wrong and what we emit instead.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { demoRegistrations, demoUsers } from '../../src/domain/demo-seed.ts';
import { timed, useServer } from './setup.ts';
import { CREDENTIAL_KEYS, ENDPOINTS, STATUS_ITEM_KEYS, assertForbidden, assertFresh, assertTimestamp, assertWire, fixtures, type FixtureExample } from './wire.ts';

const context = useServer({ demo: true });
const example = (name: string): FixtureExample => {
  const found = fixtures.examples.find((e) => e.name === name);
  assert.ok(found, `the fixtures hold the ${name} example`);
  return found;
};

test('the fixtures hold the five examples, in the order they are replayed', () => {
  assert.deepEqual(
    fixtures.examples.map((e) => e.name),
    ['enable', 'disable', 'delete', 'clearPin', 'lookup'],
  );
  assert.equal(fixtures.basePath, '/AdminInterface/restapi');
});

test('the demo seed covers every fixture seed', () => {
  const statusAfter = new Map<string, string>(); // token serial -> status the examples so far leave it in
  for (const e of fixtures.examples) {
    for (const u of e.seed.users) assert.ok(demoUsers.some((d) => d.id === u.id), `${e.name}: demo user ${u.id}`);
    for (const s of e.seed.ds100) {
      const r = demoRegistrations.find((d) => d.tokenSerialNumber === s.tokenSerialNumber);
      assert.ok(r, `${e.name}: demo credential ${s.tokenSerialNumber}`);
      assert.equal(r.user, s.userId, `${e.name}: holder of ${s.tokenSerialNumber}`);
      assert.equal(r.deviceSerialNumber, s.deviceSerialNumber, `${e.name}: device of ${s.tokenSerialNumber}`);
      for (const field of ['id', 'name', 'registeredDate', 'updatedAt', 'pinSet'] as const) {
        if (s[field] !== undefined) assert.equal(r[field], s[field], `${e.name}: ${field} of ${s.tokenSerialNumber}`);
      }
      // The examples run in order against one server: a seed's status is the demo's own the
      // first time the credential appears, afterwards what the earlier example left.
      const expected = statusAfter.get(s.tokenSerialNumber) ?? r.tokenStatus ?? 'Enabled';
      assert.equal(s.tokenStatus, expected, `${e.name}: status of ${s.tokenSerialNumber} when the example runs`);
    }
    if (Array.isArray(e.response)) {
      for (const item of e.response as Array<{ tokenSerialNumber?: string; tokenStatus?: string }>) {
        if (item.tokenSerialNumber && item.tokenStatus) statusAfter.set(item.tokenSerialNumber, item.tokenStatus);
      }
    }
  }
});

describe('the published examples, replayed in order against a demo server', () => {
  /** Before each example: the store holds what its seed says. */
  const assertSeeded = async (e: FixtureExample) => {
    const { store } = context.server;
    for (const u of e.seed.users) assert.ok(await store.userById(u.id), `${e.name}: user ${u.id} exists`);
    for (const s of e.seed.ds100) {
      const c = await store.credentialByTokenSerial(s.tokenSerialNumber);
      assert.ok(c, `${e.name}: credential ${s.tokenSerialNumber} exists`);
      assert.deepEqual(
        { userId: c.userId, deviceSerialNumber: c.deviceSerialNumber, tokenStatus: c.tokenStatus },
        { userId: s.userId, deviceSerialNumber: s.deviceSerialNumber, tokenStatus: s.tokenStatus },
      );
      if (s.pinSet !== undefined) assert.equal(c.pinSet, s.pinSet);
    }
  };

  const replay = async (e: FixtureExample) => {
    await assertSeeded(e);
    const { reply, sentAt, answeredAt } = await timed(() => context.server.request(e.method, e.path, e.request));
    assert.equal(reply.status, e.status, reply.text);
    return { reply, sentAt, answeredAt };
  };

  /** Enable and disable: the published items, with the server's own time of the change and the caller as its author. */
  const assertStatusItems = async (e: FixtureExample, r: Awaited<ReturnType<typeof replay>>) => {
    const published = e.response as Array<Record<string, unknown>>;
    const items = r.reply.json as Array<Record<string, unknown>>;
    assert.ok(Array.isArray(items), 'an array');
    assert.equal(items.length, published.length);
    const subject = context.server.keys.HelpDeskAdmin.keyFile.accessID;
    for (const [i, item] of items.entries()) {
      assert.deepEqual(Object.keys(item), Object.keys(published[i]!));
      assert.deepEqual(Object.keys(item), STATUS_ITEM_KEYS);
      assertFresh(item.tokenStatusChangedAt, r.sentAt, r.answeredAt, 'tokenStatusChangedAt');
      assert.equal(published[i]!.tokenStatusChangedBy, '<admin subject>');
      assertWire(item, { ...published[i], tokenStatusChangedAt: item.tokenStatusChangedAt, tokenStatusChangedBy: subject });
      const stored = await context.server.store.credentialByTokenSerial(item.tokenSerialNumber as string);
      assert.deepEqual(
        { tokenStatus: stored?.tokenStatus, at: stored?.tokenStatusChangedAt, by: stored?.tokenStatusChangedBy, updatedAt: stored?.updatedAt },
        { tokenStatus: item.tokenStatus, at: item.tokenStatusChangedAt, by: subject, updatedAt: item.tokenStatusChangedAt },
      );
    }
  };

  test('enable', async () => {
    const e = example('enable');
    assert.deepEqual([e.method, e.path], [ENDPOINTS.enable.method, ENDPOINTS.enable.path]);
    await assertStatusItems(e, await replay(e));
  });

  test('disable (the published timestamp lacks its colons; we emit the proper form)', async () => {
    const e = example('disable');
    assert.deepEqual([e.method, e.path], [ENDPOINTS.disable.method, ENDPOINTS.disable.path]);
    const published = (e.response as Array<{ tokenStatusChangedAt: string }>)[0]!.tokenStatusChangedAt;
    assert.throws(() => assertTimestamp(published), 'the published value is the typo the notes describe');
    assertTimestamp(published.replace(/T(\d\d)(\d\d)(\d\d)/, 'T$1:$2:$3'));
    await assertStatusItems(e, await replay(e));
  });

  test('delete: a DELETE with a JSON body, answered with an empty body', async () => {
    const e = example('delete');
    assert.deepEqual([e.method, e.path], [ENDPOINTS.delete.method, ENDPOINTS.delete.path]);
    const { reply } = await replay(e);
    assert.equal(e.response, null);
    assert.equal(reply.text, '');
    assert.equal(await context.server.store.credentialByTokenSerial(e.request.tokenSerialNumber!), null);
  });

  test("clearPin: a single object that echoes the request's serial", async () => {
    const e = example('clearPin');
    assert.deepEqual([e.method, e.path], [ENDPOINTS.clearPin.method, ENDPOINTS.clearPin.path]);
    const { reply } = await replay(e);
    assertWire(reply.json, e.response);
    assertWire(reply.json, { tokenSerialNumber: e.request.tokenSerialNumber, pinSet: false });
    assert.equal((await context.server.store.credentialByTokenSerial(e.request.tokenSerialNumber!))?.pinSet, false);
  });

  test('lookup: the published record first, whole, among the credentials the demo registers to the device', async () => {
    const e = example('lookup');
    assert.deepEqual([e.method, e.path], [ENDPOINTS.lookupDs100.method, ENDPOINTS.lookupDs100.path]);
    const { reply } = await replay(e);
    const published = (e.response as Array<Record<string, unknown>>)[0]!;
    const records = reply.json as Array<Record<string, unknown>>;
    assert.ok(Array.isArray(records), 'an array');
    assert.equal(records[0]?.id, published.id, 'the published record comes first');
    const record = records[0]!;
    // Cut off after assignedAt in the vendor's page: its keys first, in its order, then the rest.
    const publishedKeys = Object.keys(published);
    assert.deepEqual(Object.keys(record), [
      ...publishedKeys, 'assignedBy', 'pinSet', 'tokenStatusChangedAt', 'tokenStatusChangedBy', 'deviceSerialNumber',
    ]);
    assertWire(Object.fromEntries(publishedKeys.map((k) => [k, record[k]])), published);
    assert.deepEqual(
      { assignedBy: record.assignedBy, pinSet: record.pinSet, at: record.tokenStatusChangedAt, by: record.tokenStatusChangedBy },
      { assignedBy: null, pinSet: false, at: null, by: null },
    );
    assert.equal(record.deviceSerialNumber, e.request.deviceSerialNumber);

    // The vendor's seeds register this device to three users; after the examples before this
    // one, their credentials are 014010008031 (enabled then disabled), 014010008039 (PIN
    // cleared) and the published one; 014010008038 was deleted.
    for (const r of records) {
      assert.deepEqual(Object.keys(r), CREDENTIAL_KEYS);
      assert.equal(r.deviceSerialNumber, e.request.deviceSerialNumber);
      for (const k of ['registeredDate', 'updatedAt', 'assignedAt'] as const) assertTimestamp(r[k], k);
    }
    assert.deepEqual(records.map((r) => r.tokenSerialNumber).sort(), ['014010008031', '014010008035', '014010008039']);
    assert.equal(new Set(records.map((r) => r.userId)).size, 3);
    const status = (token: string) => records.find((r) => r.tokenSerialNumber === token);
    assert.deepEqual(
      { status: status('014010008031')?.tokenStatus, by: status('014010008031')?.tokenStatusChangedBy, pin: status('014010008039')?.pinSet },
      { status: 'Disabled', by: context.server.keys.HelpDeskAdmin.keyFile.accessID, pin: false },
    );
  });
});

describe('the published error bodies have the shape of ours, key for key', () => {
  test('404: the unknown user of the published example', async () => {
    const published = fixtures.errorBodies.notFound;
    const userId = /^User (\S+) not found$/.exec(published.description as string)![1]!;
    const reply = await context.server.request('PATCH', ENDPOINTS.enable.path, { deviceSerialNumber: '140100080', userId });
    assert.equal(reply.status, 404);
    assertWire(reply.json, published);
  });

  test('400: wrong number of properties', async () => {
    const body = { ...example('enable').request, tokenSerialNumber: '014010008031' };
    const reply = await context.server.request('PATCH', ENDPOINTS.enable.path, body);
    assert.equal(reply.status, 400);
    assertWire(reply.json, fixtures.errorBodies.badRequest);
  });

  test('403: the Spring shape, for a token the server cannot process', async () => {
    const published = fixtures.errorBodies.forbidden;
    assert.equal(typeof published.timestamp, 'number');
    const path = `${fixtures.basePath}${ENDPOINTS.enable.path}`;
    const sentAt = Date.now();
    const reply = await context.server.request('PATCH', ENDPOINTS.enable.path, example('enable').request, {
      authorization: 'Bearer not.a.token',
    });
    assertForbidden(reply, published.message as string, path, sentAt, Date.now());
    assert.deepEqual(Object.keys(reply.json as object), Object.keys(published));
    assert.deepEqual(
      { ...(reply.json as object), timestamp: 0, path: '' },
      { ...published, timestamp: 0, path: '' },
    );
  });
});
