import { join } from 'node:path';
import { openSqliteStore } from './sqlite/index.ts';
import type { Store } from './store.ts';

export interface StoreLocation {
  /** The data folder: the SQLite file lives here, and the key files under `keys/`. */
  dataDir: string;
  /** A `postgres://` URL; when given, the store is PostgreSQL and `dataDir` holds only key files. */
  databaseUrl?: string;
}

export const SQLITE_FILE = 'ds100-admin.db';

/** Opens the store a command or the server was pointed at, applying pending migrations. */
export async function openStore(location: StoreLocation): Promise<Store> {
  if (location.databaseUrl) {
    const { openPostgresStore } = await import('./postgres/index.ts');
    return openPostgresStore({ url: location.databaseUrl });
  }
  return openSqliteStore({ file: join(location.dataDir, SQLITE_FILE) });
}
