import type { Cells } from './rows.ts';

/** A step of an engine's schema. Never edited once released: a change is a new entry. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Steps whose SQL is the same on both engines, in both lists under the same version.
 *
 * 8: a toggle reads a user's device (and a lookup a device) ORDER BY registered_date,
 * token_serial: with the order in the index, SQLite no longer builds a sorter for every query
 * (0.5 of 3.4 µs a query, measured with better-sqlite3). The new indexes serve every query the
 * old ones did (their leading columns are the same).
 */
export const CREDENTIALS_IN_ANSWER_ORDER: Migration = {
  version: 8,
  name: 'credentials indexed in the order they are answered in',
  sql: `
    DROP INDEX credentials_user_device;
    CREATE INDEX credentials_user_device ON credentials (user_id, device_serial, registered_date, token_serial);
    DROP INDEX credentials_device_serial;
    CREATE INDEX credentials_device_serial ON credentials (device_serial, registered_date, token_serial);
  `,
};

/** What the runner needs of an engine's connection. */
export interface MigrationConnection {
  /** Runs statements without values (DDL; several separated by `;`). */
  exec(sql: string): Promise<void>;
  rows(sql: string, values: unknown[]): Promise<Cells[]>;
  run(sql: string, values: unknown[]): Promise<number>;
  /**
   * The statement that opens a migration's transaction. On SQLite, `BEGIN IMMEDIATE` takes the
   * write lock at once, so the check for the version below sees what another process opening the
   * same fresh file (`serve` beside `keys create`) has applied; PostgreSQL instances hold an
   * advisory lock around the whole run instead.
   */
  begin: string;
}

/**
 * Applies the migrations not yet in `schema_migrations`, in order, each in its own transaction
 * with its record. The one runner of both engines.
 */
export async function applyMigrations(db: MigrationConnection, migrations: readonly Migration[]): Promise<void> {
  await db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  for (const m of migrations) {
    await db.exec(db.begin);
    try {
      if ((await db.rows('SELECT 1 FROM schema_migrations WHERE version = ?', [m.version])).length === 0) {
        await db.exec(m.sql);
        await db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, new Date().toISOString()]);
      }
      await db.exec('COMMIT');
    } catch (error) {
      await db.exec('ROLLBACK').catch(() => {});
      throw error;
    }
  }
}
