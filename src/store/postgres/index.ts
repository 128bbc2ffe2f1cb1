import type { Store } from '../store.ts';

export interface PostgresStoreOptions {
  url: string;
}

/** The PostgreSQL store arrives with the scale-out work (issue 3). */
export async function openPostgresStore(_options: PostgresStoreOptions): Promise<Store> {
  throw new Error('the PostgreSQL store is not available in this version');
}
