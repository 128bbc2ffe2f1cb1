import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditQuery, Store } from '../domain/store.ts';
import { openSqliteStore, type RewindableStore } from '../store/sqlite/index.ts';

/**
 * Beyond this many changed rows since the snapshot, a reset writes the snapshot's bytes back
 * instead of undoing the changes one by one: a file of 10 000 records is written in a few
 * milliseconds, about what undoing some thousands of changes takes.
 */
export const MAX_UNDO = 20_000;

/**
 * A SQLite store in a throwaway folder that can be put back to a saved state. `snapshot` marks
 * the state (the store records, from then on, the statement that undoes each change:
 * src/store/sqlite/undo-log.ts) and keeps the database's bytes; `restore` undoes the changes
 * in one transaction, connections and caches staying open, so that its cost follows what a test
 * changed, not the size of the seed. Past `maxUndo` changes it closes the database, writes the
 * kept bytes over the file and opens it again; the app holds `store`, which passes each call to
 * the database open at the time.
 */
export async function openResettableStore(
  dir: string,
  { maxUndo = MAX_UNDO }: { maxUndo?: number } = {},
): Promise<{ store: Store; snapshot(): Promise<void>; restore(): Promise<'undone' | 'rewritten'> }> {
  const file = join(dir, 'emulator.db');
  let current: RewindableStore = await openSqliteStore({ file, undoLog: true });
  let saved: Buffer | null = null;
  // Calls that arrive while the database is being swapped wait for the new one.
  let swapping: Promise<void> | null = null;
  const live = async (): Promise<RewindableStore> => {
    while (swapping) await swapping;
    return current;
  };

  // Every call goes to the store of the moment, waiting out a swap; a method the Store interface
  // gains later is delegated without being listed here. The few that are not async answer at once.
  const store = new Proxy({} as Store, {
    get(_, name: keyof Store) {
      if (name === 'engine') return 'sqlite';
      if (name === 'recordAudit') return (event: Parameters<Store['recordAudit']>[0]) => current.recordAudit(event);
      if (name === 'stats') return () => current.stats();
      if (name === 'auditPages') {
        return async function* (query?: AuditQuery) {
          yield* (await live()).auditPages(query);
        };
      }
      return async (...args: unknown[]) => ((await live())[name] as (...a: unknown[]) => unknown)(...args);
    },
  });
  return {
    store,
    async snapshot() {
      saved = await (await live()).mark();
    },
    async restore() {
      if (!saved) throw new Error('no snapshot to restore');
      const image = saved;
      try {
        if (await (await live()).rewind(maxUndo)) return 'undone';
      } catch {
        // Nothing was undone (the rewind rolled back): writing the bytes back restores all the same.
      }
      while (swapping) await swapping;
      const done = (async () => {
        // A clean close checkpoints and removes the WAL: the file alone is then the whole state.
        await current.close();
        await writeFile(file, image);
        await Promise.all([rm(`${file}-wal`, { force: true }), rm(`${file}-shm`, { force: true })]);
        current = await openSqliteStore({ file, undoLog: true });
        await current.mark();
      })();
      swapping = done.finally(() => (swapping = null));
      await done;
      return 'rewritten';
    },
  };
}
