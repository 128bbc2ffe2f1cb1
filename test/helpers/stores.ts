import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/store.ts';

export type Engine = 'sqlite' | 'postgres';

export interface TestStore {
  store: Store;
  /** Removes what the store left behind (temporary folder, schema). */
  dispose(): Promise<void>;
}

/** A temporary folder removed by `dispose`. */
export function tempDir(prefix = 'ds100-test-'): { path: string; dispose(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

/** A fresh, empty store of the engine named by `engine` (default: TEST_STORE, else sqlite). */
export async function openTestStore(engine: Engine = (process.env.TEST_STORE as Engine) ?? 'sqlite'): Promise<TestStore> {
  if (engine === 'postgres') throw new Error('the PostgreSQL test store is not set up yet');
  const dir = tempDir();
  const store = openSqliteStore({ file: join(dir.path, 'test.db') });
  return {
    store,
    async dispose() {
      await store.close();
      dir.dispose();
    },
  };
}
