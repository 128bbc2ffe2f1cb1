/**
 * Interop: a SIEM collector in Python (requests, PyJWT; test/interop/siem_collector.py) polls the
 * administration log of real `serve` processes while help-desk load runs against them; afterwards
 * the events it collected are exactly the audit trail's (none missing, none twice). On SQLite
 * (one server), and on PostgreSQL with two instances behind a round robin, when it is reachable.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Store } from '../../src/domain/store.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { callApi, startServe, stopServe, tokenFromKeyFile, type ServeProcess } from '../support/serve-process.ts';
import { freshSchema, tempDir, TEST_DATABASE_URL } from '../support/stores.ts';

const COLLECTOR = fileURLToPath(new URL('./siem_collector.py', import.meta.url));
/** Debian's python3, which has python3-jwt and python3-requests (.ci/services.sh installs them). */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const python = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import jwt, requests'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${PYTHON} lacks jwt or requests (apt-get install python3-jwt python3-requests)`;
  }
})();
const REQUESTS = 240;

interface Element {
  eventId: number;
  eventLogDate: string;
}

/** Help-desk calls, several at a time, spread over the instances: changes, lookups and refusals. */
async function helpDeskLoad(urls: string[], keyFile: string, publicUrl: string | undefined): Promise<void> {
  const tokens = await Promise.all(urls.map((u) => tokenFromKeyFile(keyFile, publicUrl ?? u)));
  const jane = 'ece30fe9-414c-7536-5403-0656220b3046';
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < REQUESTS; i = next++) {
      const at = i % urls.length;
      const call = [
        () => callApi(urls[at]!, tokens[at]!, 'PATCH', '/v1/ds100/disable/otp', { deviceSerialNumber: '140100080', userId: jane }),
        () => callApi(urls[at]!, tokens[at]!, 'PATCH', '/v1/ds100/enable/otp', { deviceSerialNumber: '140100080', userId: jane }),
        () => callApi(urls[at]!, tokens[at]!, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: '140100080' }),
        () => callApi(urls[at]!, tokens[at]!, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: `9${i}` }),
      ][i % 4]!;
      const reply = await call();
      assert.ok([200, 404].includes(reply.status), reply.text);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}

/** Runs the collector against `urls` during the load, then once more; the events it printed. */
async function collectDuringLoad(urls: string[], keyFile: string, work: string, publicUrl?: string): Promise<{ start: string; collected: Element[] }> {
  const stopFile = join(work, 'stop');
  const start = new Date().toISOString();
  const child = spawn(PYTHON, [COLLECTOR, keyFile, urls.join(','), '0.2', stopFile, start], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await helpDeskLoad(urls, keyFile, publicUrl);
  } finally {
    writeFileSync(stopFile, '');
  }
  assert.equal(await exited, 0, `the collector failed: ${stderr}`);
  return { start, collected: stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Element) };
}

/** The trail's events after `start` that the admin log carries, from `store`, by eventId. */
async function trailIds(store: Store, start: string): Promise<number[]> {
  return (await store.audit()).filter((e) => e.loggedAt > start && !e.operation.endsWith('.export')).map((e) => e.seq);
}

function assertSame(collected: Element[], trail: number[]): void {
  const ids = collected.map((e) => e.eventId);
  assert.equal(new Set(ids).size, ids.length, 'no event collected twice');
  const missing = trail.filter((id) => !ids.includes(id));
  assert.deepEqual(missing, [], 'no event of the trail missing');
  assert.deepEqual([...ids].sort((a, b) => a - b), trail, 'the collected events are the trail');
  assert.equal(trail.length, REQUESTS, `the load's ${REQUESTS} events`);
}

describe('a Python SIEM collector against help-desk load', { skip: python ?? false }, () => {
  const servers: ServeProcess[] = [];
  after(async () => {
    for (const s of servers) await stopServe(s);
  });

  test('SQLite: one server', async () => {
    const work = tempDir('ds100-siem-');
    try {
      const server = await startServe(['--data', work.path, '--port', '0', '--demo', '--log-level', 'warn']);
      servers.push(server);
      const keyFile = server.bootstrapKeyFile!;
      const { start, collected } = await collectDuringLoad([server.url], keyFile, work.path);
      await stopServe(server);
      const store = await openSqliteStore({ file: join(work.path, 'ds100-admin.db') });
      try {
        assertSame(collected, await trailIds(store, start));
      } finally {
        await store.close();
      }
    } finally {
      work.dispose();
    }
  });

  test('PostgreSQL: two instances on one database', async (t) => {
    let fresh: Awaited<ReturnType<typeof freshSchema>>;
    try {
      fresh = await freshSchema('ds100_siem');
    } catch (error) {
      if (process.env.CI === 'true') throw error;
      t.skip(`PostgreSQL is not reachable: ${(error as Error).message}`);
      return;
    }
    const work = tempDir('ds100-siem-pg-');
    try {
      const url = `${TEST_DATABASE_URL}${TEST_DATABASE_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${fresh.schema}`)}`;
      // One public URL for both, as behind a load balancer: the tokens' audience.
      const publicUrl = 'http://siem-test.invalid';
      const common = ['--database-url', url, '--public-url', publicUrl, '--port', '0', '--log-level', 'warn'];
      const first = await startServe([...common, '--data', join(work.path, 'a'), '--demo']);
      servers.push(first);
      const second = await startServe([...common, '--data', join(work.path, 'b')]);
      servers.push(second);
      const keyFile = first.bootstrapKeyFile!;
      const { start, collected } = await collectDuringLoad([first.url, second.url], keyFile, work.path, publicUrl);
      const store = await openPostgresStore({ url: TEST_DATABASE_URL, schema: fresh.schema, poolSize: 2 });
      try {
        assertSame(collected, await trailIds(store, start));
      } finally {
        await store.close();
      }
    } finally {
      work.dispose();
      await fresh.dispose();
    }
  });
});
