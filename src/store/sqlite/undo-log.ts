import type Database from 'better-sqlite3';

/**
 * The emulator's reset (src/emulator/store.ts): every change made on one connection after `mark`
 * is recorded as the statement that undoes it, so that `rewind` puts the database back as it was
 * at the mark in one transaction, at a cost that follows the changes made, not the size of the
 * data. This is SQLite's own undo technique (https://sqlite.org/undoredo.html): TEMP triggers on
 * every table of `main`, writing into a TEMP table. Being TEMP, they exist on this connection
 * only and never reach the database file or its schema; writes of other connections are not
 * recorded (the emulator's store writes on one connection).
 *
 * The undo statements run newest first, so each brings back a row as it was just before the
 * change it undoes: every state they pass through is one the database was in, and held its
 * rules then (foreign keys, checked per row at the time, are deferred to the commit). Rowids are
 * restored with the rows, so rows read in the same order, and `sqlite_sequence` is put back, so
 * AUTOINCREMENT ids (the audit trail's `seq`) go on from the same number.
 */
export interface UndoLog {
  /** Forgets what was recorded and records from here on (the first mark installs the log). */
  mark(): void;
  /** How many row changes are recorded. */
  size(): number;
  /** Undoes every recorded change in one transaction and starts recording afresh; on an error nothing is undone. */
  rewind(): void;
}

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
/** `text` as an SQL string literal, for SQL that builds SQL. */
const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** The three triggers of one table: each writes the statement that undoes a row's change. */
function triggersOf(db: Database.Database, table: string, n: number): string {
  const columns = (db.prepare(`PRAGMA main.table_info(${ident(table)})`).all() as Array<{ name: string }>).map((c) => c.name);
  const t = `main.${ident(table)}`;
  // `'...' || quote(old.c) || '...'`: the old value as an SQL literal (text, integer, real to
  // 17 digits, blob or NULL), evaluated when the trigger fires.
  const values = columns.map((c) => `',' || quote(old.${ident(c)})`).join(' || ');
  const sets = columns.map((c) => `',' || ${literal(ident(c))} || '=' || quote(old.${ident(c)})`).join(' || ');
  const log = (sql: string) => `INSERT INTO temp.undo_log (sql) VALUES (${sql});`;
  return `
    CREATE TEMP TRIGGER undo_${n}_insert AFTER INSERT ON ${t} BEGIN
      ${log(`${literal(`DELETE FROM ${t} WHERE rowid = `)} || new.rowid`)}
    END;
    CREATE TEMP TRIGGER undo_${n}_update AFTER UPDATE ON ${t} BEGIN
      ${log(`${literal(`UPDATE ${t} SET rowid = `)} || old.rowid || ${sets} || ' WHERE rowid = ' || new.rowid`)}
    END;
    CREATE TEMP TRIGGER undo_${n}_delete AFTER DELETE ON ${t} BEGIN
      ${log(`${literal(`INSERT INTO ${t} (rowid, ${columns.map(ident).join(', ')}) VALUES (`)} || old.rowid || ${values} || ')'`)}
    END;`;
}

/**
 * The undo log of `db`, a connection that writes. Nothing is recorded until the first `mark`,
 * which installs the log and its triggers (with no transaction open): the changes made before it,
 * a large seed's, cost nothing extra.
 */
export function makeUndoLog(db: Database.Database): UndoLog {
  let installed: ReturnType<typeof install> | undefined;
  return {
    mark() {
      installed ??= install(db);
      installed.forget.run();
      installed.marked = (installed.sequences?.all() ?? []) as typeof installed.marked;
    },
    size: () => (installed ? (installed.count.get() as number) : 0),
    rewind() {
      if (!installed) return;
      const { newestFirst, forget, clearSequences, putSequence, marked } = installed;
      db.exec('BEGIN IMMEDIATE');
      try {
        db.pragma('defer_foreign_keys = ON');
        for (const sql of newestFirst.all() as string[]) db.exec(sql);
        // The undo statements fired the triggers too: what they logged is dropped with the rest.
        forget.run();
        if (clearSequences && putSequence) {
          clearSequences.run();
          for (const { name, seq } of marked) putSequence.run(name, seq);
        }
        db.exec('COMMIT');
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw error;
      }
    },
  };
}

/** The TEMP log table and the triggers of every table of `main`, and the statements that use them. */
function install(db: Database.Database) {
  // The log and its triggers live in memory with the connection, whatever the build's default.
  db.pragma('temp_store = MEMORY');
  const tables = db.prepare("SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").pluck().all() as string[];
  const hasSequence = db.prepare("SELECT 1 FROM main.sqlite_schema WHERE name = 'sqlite_sequence'").pluck().get() !== undefined;
  db.exec(`
    DROP TABLE IF EXISTS temp.undo_log;
    CREATE TEMP TABLE undo_log (seq INTEGER PRIMARY KEY, sql TEXT NOT NULL);
    ${tables.map((table, n) => triggersOf(db, table, n)).join('\n')}
  `);
  return {
    count: db.prepare('SELECT count(*) FROM temp.undo_log').pluck(),
    newestFirst: db.prepare('SELECT sql FROM temp.undo_log ORDER BY seq DESC').pluck(),
    forget: db.prepare('DELETE FROM temp.undo_log'),
    sequences: hasSequence ? db.prepare('SELECT name, seq FROM main.sqlite_sequence') : undefined,
    clearSequences: hasSequence ? db.prepare('DELETE FROM main.sqlite_sequence') : undefined,
    putSequence: hasSequence ? db.prepare('INSERT INTO main.sqlite_sequence (name, seq) VALUES (?, ?)') : undefined,
    marked: [] as Array<{ name: string; seq: number }>,
  };
}
