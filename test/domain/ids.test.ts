/**
 * Ids of users and credentials: UUIDs of version 7, whose leading bits are the creation time, so
 * that ids made later sort later (inserts append to the primary-key index) while each is still an
 * ordinary, unique UUID.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from '../../src/domain/ids.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('is a version 7, RFC 9562 variant UUID whose first 48 bits are the given milliseconds', () => {
  const ms = 1_750_000_000_123;
  const id = newId(ms);
  assert.match(id, UUID_V7);
  assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), ms);
});

test('ids of later milliseconds sort after earlier ones, as strings', () => {
  const ids = Array.from({ length: 2000 }, (_, i) => newId(1_750_000_000_000 + i * 7));
  assert.deepEqual([...ids].sort(), ids);
});

test('ids made in the same millisecond are all distinct and all well formed', () => {
  const ids = Array.from({ length: 20_000 }, () => newId(1_750_000_000_000));
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(ids.every((id) => UUID_V7.test(id)));
});
