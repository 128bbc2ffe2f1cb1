import { join } from 'node:path';
import type { StoreLog } from './postgres/index.ts';
import { openSqliteStore } from './sqlite/index.ts';
import type { Store } from '../domain/store.ts';

export interface StoreLocation {
  /** The data folder: the SQLite file lives here, and the key files under `keys/`. */
  dataDir: string;
  /** A `postgres://` URL; when given, the store is PostgreSQL and `dataDir` holds only key files. */
  databaseUrl?: string;
  /**
   * Bound in milliseconds on each wait for the database (default 5000): PostgreSQL's
   * connections, statements and locks; SQLite's write lock while another process holds it.
   */
  timeoutMs?: number;
  /** PostgreSQL only: most connections of this process (default 10). */
  poolSize?: number;
  /** PostgreSQL only: where faults that no request waits on are reported. */
  log?: StoreLog;
  /**
   * SQLite only: this process is the data folder's one server. Opening fails while another
   * server runs on the folder; commands run beside a server leave this out.
   */
  server?: boolean;
}

export const SQLITE_FILE = 'ds100-admin.db';
/** Held by the server on a SQLite data folder for its whole life. */
export const SERVER_LOCK_FILE = 'ds100-admin.lock';

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
  return openSqliteStore({
    file: join(location.dataDir, SQLITE_FILE),
    ...(location.timeoutMs !== undefined ? { busyTimeoutMs: location.timeoutMs } : {}),
    ...(location.server ? { lockFile: join(location.dataDir, SERVER_LOCK_FILE) } : {}),
  });
}
