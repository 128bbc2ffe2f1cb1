import { closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** Another server already holds the data folder. */
export class FolderLockedError extends Error {}

/**
 * Takes the exclusive lock of `file` for as long as this process keeps it, so that a second
 * server on the same data folder is refused: two would each group-commit on their own, and
 * each hold the write lock the other waits for. Node has no flock; SQLite's EXCLUSIVE locking
 * mode keeps an fcntl write lock on the file, which the kernel drops when the process ends, even
 * by SIGKILL, so a crash never leaves a stale lock behind. The file stays empty.
 */
export function lockFolder(file: string): { release(): void } {
  closeSync(openSync(file, 'a', 0o600));
  const db = new Database(file);
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if (String((error as { code?: unknown }).code).startsWith('SQLITE_BUSY')) {
      throw new FolderLockedError(`another ds100-admin server is running on the data folder ${dirname(file)} (it holds ${file})`);
    }
    throw error;
  }
  return {
    release() {
      if (!db.open) return;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}
