import { join } from 'node:path';
import type { StoreLog } from './postgres/index.ts';
import { openSqliteStore } from './sqlite/index.ts';
import type { Store } from './store.ts';

export interface StoreLocation {
  /** The data folder: the SQLite file lives here, and the key files under `keys/`. */
  dataDir: string;
  /** A `postgres://` URL; when given, the store is PostgreSQL and `dataDir` holds only key files. */
  databaseUrl?: string;
  /** PostgreSQL only: bound in milliseconds on each wait for the database (default 5000). */
  timeoutMs?: number;
  /** PostgreSQL only: most connections of this process (default 10). */
  poolSize?: number;
  /** PostgreSQL only: where faults that no request waits on are reported. */
  log?: StoreLog;
}

export const SQLITE_FILE = 'ds100-admin.db';

/** Opens the store a command or the server was pointed at, applying pending migrations. */
export async function openStore(location: StoreLocation): Promise<Store> {
  if (location.databaseUrl) {
    const { openPostgresStore } = await import('./postgres/index.ts');
    const { databaseUrl: url, timeoutMs, poolSize, log } = location;
    return openPostgresStore({
      url,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(poolSize !== undefined ? { poolSize } : {}),
      ...(log ? { log } : {}),
    });
  }
  return openSqliteStore({ file: join(location.dataDir, SQLITE_FILE) });
}
