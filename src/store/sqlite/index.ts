import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { ApiKey, AuditEvent, StoredAuditEvent } from '../../domain/types.ts';
import {
  API_KEY_COLUMNS, AUDIT_COLUMNS, CREDENTIAL_COLUMNS, USER_COLUMNS, apiKeyValues, auditValues, credentialValues,
  toApiKey, toAuditEvent, toCredential, toUser, userValues, type Cells,
} from '../rows.ts';
import { allAuditEvents, auditPagesOf, type AuditPageReader, type AuditQuery, type Store, type StoreReader, type StoreTx } from '../store.ts';
import { sqliteMigrations } from './migrations.ts';

type Db = Database.Database;

export interface SqliteStoreOptions {
  /** Path of the database file. */
  file: string;
  /** Most transactions committed together by one group commit. */
  maxBatch?: number;
}

/** SQLite binds no booleans: they are stored as 0 and 1. */
const bindable = (values: unknown[]): unknown[] => values.map((v) => (typeof v === 'boolean' ? Number(v) : v));

function openDatabase(file: string, readonly: boolean): Db {
  const db = new Database(file, { readonly, fileMustExist: readonly });
  db.pragma('busy_timeout = 5000');
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    // FULL: the WAL is synced at every commit, so an answered change survives power loss.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
  }
  return db;
}

function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const isApplied = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').pluck();
  for (const m of sqliteMigrations) {
    // Checked inside the write lock: another process opening the same fresh file at the same
    // moment (`serve` and `keys create`, say) may have applied it since we looked.
    db.transaction(() => {
      if (isApplied.get(m.version) !== undefined) return;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
    }).immediate();
  }
}

/** The reads of `StoreReader` over one connection: the reader's, or the writer's inside a transaction. */
function makeReads(db: Db): StoreReader {
  const cells = (sql: string) => db.prepare(sql).raw();
  const userById = cells(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`);
  const userByEmail = cells(`SELECT ${USER_COLUMNS} FROM users WHERE email_lower = ?`);
  const byDevice = cells(`SELECT ${CREDENTIAL_COLUMNS} FROM credentials WHERE device_serial = ? ORDER BY registered_date, token_serial`);
  const byUserDevice = cells(
    `SELECT ${CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = ? AND device_serial = ? ORDER BY registered_date, token_serial`,
  );
  const byToken = cells(`SELECT ${CREDENTIAL_COLUMNS} FROM credentials WHERE token_serial = ?`);
  const deviceCount = db.prepare('SELECT COUNT(DISTINCT device_serial) FROM credentials WHERE user_id = ?').pluck();
  const keyById = cells(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE access_id = ?`);
  const allKeys = cells(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, access_id`);
  const one = <T>(row: unknown, map: (r: Cells) => T): T | null => (row === undefined ? null : map(row as Cells));
  return {
    userById: async (id) => one(userById.get(id), toUser),
    userByEmail: async (email) => one(userByEmail.get(email.toLowerCase()), toUser),
    credentialsByDevice: async (device) => (byDevice.all(device) as Cells[]).map(toCredential),
    credentialsOfUserDevice: async (userId, device) => (byUserDevice.all(userId, device) as Cells[]).map(toCredential),
    credentialByTokenSerial: async (token) => one(byToken.get(token), toCredential),
    deviceCountOfUser: async (userId) => Number(deviceCount.get(userId)),
    apiKey: async (accessId) => one(keyById.get(accessId), toApiKey),
    apiKeys: async () => (allKeys.all() as Cells[]).map(toApiKey),
  };
}

function makeTx(db: Db): StoreTx & { insertAuditNow(e: AuditEvent): void } {
  const insertUser = db.prepare(
    `INSERT INTO users (id, email, email_lower, first_name, last_name, creation_date, identity_source, user_status, mark_deleted, mark_deleted_at, mark_deleted_by, last_sync_time)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertCredential = db.prepare(`INSERT INTO credentials (${CREDENTIAL_COLUMNS}) VALUES (${Array(17).fill('?').join(', ')})`);
  const setStatus = db.prepare(
    'UPDATE credentials SET token_status = ?, token_status_changed_at = ?, token_status_changed_by = ?, updated_at = ? WHERE id = ?',
  );
  const clearPin = db.prepare('UPDATE credentials SET pin_set = 0, updated_at = ? WHERE id = ?');
  const deleteCredential = db.prepare('DELETE FROM credentials WHERE id = ?');
  const insertKey = db.prepare(`INSERT INTO api_keys (${API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?)`);
  const deleteKey = db.prepare('DELETE FROM api_keys WHERE access_id = ?');
  const insertAudit = db.prepare(
    'INSERT INTO audit_events (at, subject, role, client_address, request_id, operation, target, outcome, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const insertAuditNow = (e: AuditEvent): void => void insertAudit.run(auditValues(e));
  return {
    ...makeReads(db),
    insertUser: async (u) => void insertUser.run(bindable(userValues(u))),
    insertCredential: async (c) => void insertCredential.run(bindable(credentialValues(c))),
    setCredentialStatus: async (id, ch) => void setStatus.run(ch.tokenStatus, ch.changedAt, ch.changedBy, ch.changedAt, id),
    clearCredentialPin: async (id, at) => void clearPin.run(at, id),
    deleteCredential: async (id) => void deleteCredential.run(id),
    insertApiKey: async (k) => void insertKey.run(apiKeyValues(k)),
    deleteApiKey: async (accessId) => deleteKey.run(accessId).changes > 0,
    appendAudit: async (e) => insertAuditNow(e),
    insertAuditNow,
  };
}

interface Job {
  work: (tx: StoreTx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Audit events kept for retry when their commit fails (a full disk); older ones are dropped. */
const MAX_PENDING_AUDIT = 10_000;
/**
 * Events of calls that changed nothing wait this long (or until this many are pending) before
 * they are committed on their own; they ride along at once with any change that commits sooner.
 * Each commit of the writer empties the reader connection's page cache (SQLite resets it when
 * the WAL has moved), so committing reads' events every few milliseconds made every lookup read
 * its pages afresh: one commit every 50 ms keeps the cache warm and costs a crash at most the
 * last 50 ms of read events, which promise no durability (docs/decisions.md).
 */
const AUDIT_DELAY_MS = 50;
const AUDIT_BATCH = 2000;

/**
 * The embedded store. One connection writes, another reads committed data (WAL lets them run
 * side by side). Transactions are queued and committed in groups: every job that arrived while
 * the previous commit was being synced runs in the next BEGIN..COMMIT, each inside its own
 * SAVEPOINT so that one job's failure rolls back only that job. A job's promise settles after
 * the COMMIT (and its fsync, `synchronous=FULL`) that holds it, so an answer never precedes
 * durability, while one fsync serves many requests.
 */
export function openSqliteStore(options: SqliteStoreOptions): Store {
  mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
  // Create the file 0600 before SQLite does: its -wal and -shm files copy the database's mode.
  closeSync(openSync(options.file, 'a', 0o600));
  const writer = openDatabase(options.file, false);
  migrate(writer);
  const reader = openDatabase(options.file, true);
  const reads = makeReads(reader);
  // API keys are read on every request. They are kept here until the database changes: `PRAGMA
  // data_version` moves when any other connection (our writer, or `keys delete` in another
  // process) commits, so a deleted key is still refused at once. It is asked once per turn of
  // the event loop, not per request: asking costs a read transaction, and the requests that one
  // turn handles arrived together, so none of them can follow a commit that the first did not see.
  const dataVersion = reader.prepare('PRAGMA data_version').pluck();
  const keyCache = new Map<string, ApiKey | null>();
  let keyCacheVersion: unknown;
  let versionFresh = false;
  const versionStale = (): void => {
    versionFresh = false;
  };
  const cachedApiKey = async (accessId: string): Promise<ApiKey | null> => {
    if (!versionFresh) {
      versionFresh = true;
      setImmediate(versionStale);
      const version = dataVersion.get();
      if (version !== keyCacheVersion) {
        keyCache.clear();
        keyCacheVersion = version;
      }
    }
    let key = keyCache.get(accessId);
    if (key === undefined) {
      key = await reads.apiKey(accessId);
      if (keyCache.size >= 1000) keyCache.clear();
      keyCache.set(accessId, key);
    }
    return key;
  };
  const tx = makeTx(writer);
  const maxBatch = options.maxBatch ?? 256;
  const auditPage = reader.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq > ? AND at >= ? ORDER BY seq LIMIT ?`).raw();
  const readAuditPage: AuditPageReader = async (afterSeq, since, size) => (auditPage.all(afterSeq, since, size) as Cells[]).map(toAuditEvent);
  const ping = reader.prepare('SELECT 1').pluck();

  let jobs: Job[] = [];
  let pendingAudit: AuditEvent[] = [];
  let draining = false;
  let scheduled = false;
  let auditTimer: NodeJS.Timeout | undefined;
  let idleWaiters: Array<() => void> = [];
  let closed = false;

  const schedule = (): void => {
    if (scheduled || draining) return;
    scheduled = true;
    setImmediate(() => void drain());
  };
  const scheduleAudit = (): void => {
    if (scheduled || draining || auditTimer) return;
    auditTimer = setTimeout(() => {
      auditTimer = undefined;
      schedule();
    }, AUDIT_DELAY_MS);
  };

  async function commitBatch(batch: Job[], events: AuditEvent[]): Promise<void> {
    const outcomes: Array<{ ok: boolean; value: unknown }> = [];
    // A commit that holds only events of reads and refusals promises no durability to anyone,
    // so it skips the fsync; the next durable commit syncs the WAL, its frames included.
    const durable = batch.length > 0;
    if (!durable) writer.pragma('synchronous = NORMAL');
    try {
      writer.exec('BEGIN IMMEDIATE');
      for (const e of events) tx.insertAuditNow(e);
      for (const job of batch) {
        writer.exec('SAVEPOINT job');
        try {
          outcomes.push({ ok: true, value: await job.work(tx) });
          writer.exec('RELEASE job');
        } catch (error) {
          writer.exec('ROLLBACK TO job; RELEASE job');
          outcomes.push({ ok: false, value: error });
        }
      }
      writer.exec('COMMIT');
    } catch (error) {
      if (writer.inTransaction) writer.exec('ROLLBACK');
      pendingAudit = events.concat(pendingAudit).slice(-MAX_PENDING_AUDIT);
      for (const job of batch) job.reject(error);
      return;
    } finally {
      if (!durable) writer.pragma('synchronous = FULL');
    }
    batch.forEach((job, i) => {
      const o = outcomes[i]!;
      if (o.ok) job.resolve(o.value);
      else job.reject(o.value);
    });
  }

  async function drain(): Promise<void> {
    scheduled = false;
    if (auditTimer) {
      clearTimeout(auditTimer);
      auditTimer = undefined;
    }
    draining = true;
    try {
      while (jobs.length > 0 || pendingAudit.length > 0) {
        const batch = jobs.length > maxBatch ? jobs.splice(0, maxBatch) : jobs;
        if (batch === jobs) jobs = [];
        const events = pendingAudit;
        pendingAudit = [];
        await commitBatch(batch, events);
        // A failed audit-only commit is not retried in a tight loop; the next job retries it.
        if (batch.length === 0 && pendingAudit.length > 0) break;
      }
    } finally {
      draining = false;
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
      if (jobs.length > 0) schedule();
    }
  }

  return {
    engine: 'sqlite',
    ...reads,
    apiKey: cachedApiKey,
    transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
      if (closed) return Promise.reject(new Error('store is closed'));
      return new Promise<T>((resolve, reject) => {
        jobs.push({ work, resolve: resolve as (v: unknown) => void, reject });
        schedule();
      });
    },
    recordAudit(event) {
      if (closed) return;
      if (pendingAudit.push(event) >= AUDIT_BATCH) schedule();
      else scheduleAudit();
    },
    flush() {
      if (!draining && !scheduled && jobs.length === 0 && pendingAudit.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        schedule();
      });
    },
    auditPages: (query?: AuditQuery) => auditPagesOf(readAuditPage, query),
    audit: (query?: AuditQuery): Promise<StoredAuditEvent[]> => allAuditEvents(auditPagesOf(readAuditPage, query)),
    async ping() {
      ping.get();
    },
    async close() {
      if (closed) return;
      await this.flush();
      closed = true;
      reader.close();
      writer.close();
    },
  };
}
