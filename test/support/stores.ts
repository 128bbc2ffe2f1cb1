import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Clock } from '../../src/domain/clock.ts';
import type { Store } from '../../src/domain/store.ts';

export type Engine = 'sqlite' | 'postgres';

export interface TestStore {
  store: Store;
  /** Removes what the store left behind (temporary folder, schema). */
  dispose(): Promise<void>;
  /** Where it lives, for a second instance or process on the same data: the SQLite file, or the PostgreSQL schema. */
  location: { file: string } | { url: string; schema: string };
}

/** A temporary folder removed by `dispose`. */
export function tempDir(prefix = 'ds100-test-'): { path: string; dispose(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

/** The PostgreSQL database the suites use (`.ci/services.sh` starts it). */
export const TEST_DATABASE_URL = process.env.DATABASE_URL_TEST || 'postgres://127.0.0.1:5432/test';

/**
 * A fresh, empty schema in the test database (or the one at `url`), dropped (with everything in
 * it) by `dispose`. Each test store lives in one of its own, so suites running side by side never meet.
 */
export async function freshSchema(prefix = 'ds100_t', url = TEST_DATABASE_URL): Promise<{ schema: string; url: string; dispose(): Promise<void> }> {
  const { Client } = await import('pg');
  const { connectionUrl } = await import('../../src/store/postgres/index.ts');
  const schema = `${prefix}_${process.pid}_${randomBytes(5).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const client = new Client({ connectionString: connectionUrl(url, undefined), connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE SCHEMA "${schema}"`);
  return { schema, url, dispose: () => admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`) };
}

/** A fresh, empty store of the engine named by `engine` (default: TEST_STORE, else sqlite). */
export async function openTestStore(engine: Engine = (process.env.TEST_STORE as Engine) || 'sqlite', options: { clock?: Clock } = {}): Promise<TestStore> {
  if (engine === 'postgres') {
    const { openPostgresStore } = await import('../../src/store/postgres/index.ts');
    const fresh = await freshSchema();
    let store: Store;
    try {
      store = await openPostgresStore({ url: fresh.url, schema: fresh.schema, poolSize: 4, ...options });
    } catch (error) {
      await fresh.dispose();
      throw error;
    }
    return {
      store,
      location: { url: fresh.url, schema: fresh.schema },
      async dispose() {
        try {
          await store.close();
        } finally {
          await fresh.dispose();
        }
      },
    };
  }
  if (engine !== 'sqlite') throw new Error(`unknown test store "${String(engine)}" (TEST_STORE is sqlite or postgres)`);
  const dir = tempDir();
  const file = join(dir.path, 'test.db');
  const store = await openSqliteStore({ file, ...options });
  return {
    store,
    location: { file },
    async dispose() {
      await store.close();
      dir.dispose();
    },
  };
}
