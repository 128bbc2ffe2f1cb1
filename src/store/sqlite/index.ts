import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { allAuditEvents, auditPagesOf, type AuditQuery, type Store, type StoreTx } from '../../domain/store.ts';
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { AuditEvent, StoredAuditEvent } from '../../domain/types.ts';
import { AuditBuffer } from '../audit-buffer.ts';
import { applyMigrations } from '../migrate.ts';
import type { Cells } from '../rows.ts';
import { SQL, readAuditPage, searchAudit, sealedAfter, sqlAuditLogReads, sqlReads, sqlWrites, writeAuditEvents, type SqlConnection } from '../sql.ts';
import { lockFolder } from './folder-lock.ts';
import { sqliteMigrations } from './migrations.ts';
import { makeUndoLog } from './undo-log.ts';

type Db = Database.Database;

export interface SqliteStoreOptions {
  /** Path of the database file. */
  file: string;
  /** Most transactions committed together by one group commit. */
  maxBatch?: number;
  /**
   * Longest wait, in milliseconds, for a lock another process holds (default 5000): a
   * transaction that cannot start within it fails with SQLITE_BUSY. The wait is spent off the
   * event loop, which serves other requests meanwhile.
   */
  busyTimeoutMs?: number;
  /**
   * Held exclusively from open to close (`lockFolder`): opening fails at once while another
   * process holds it. The server gives one; commands run beside it do not.
   */
  lockFile?: string;
  /** Stamps the events of each commit (their `loggedAt`); default the system clock. */
  clock?: Clock;
  /** Record the changes made after `mark()` so that `rewind()` can undo them: the emulator's reset (undo-log.ts). */
  undoLog?: boolean;
}

/** A store that can be put back to a marked state (`undoLog: true`). */
export interface RewindableStore extends Store {
  /** Records every change from now on (forgetting earlier ones); answers the database as it is now, as a file's bytes. */
  mark(): Promise<Buffer>;
  /**
   * Undoes every change since `mark` in one transaction, once the queued transactions and audit
   * events are committed. False, with nothing done, when more than `maxChanges` rows changed:
   * writing the marked bytes back is then the quicker way.
   */
  rewind(maxChanges: number): Promise<boolean>;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;
/** Longest pause between two attempts at a lock another process holds. */
const MAX_LOCK_PAUSE_MS = 20;

/** SQLite binds no booleans: they are stored as 0 and 1. */
function bindable(values: unknown[]): unknown[] {
  for (let i = 0; i < values.length; i++) {
    if (typeof values[i] === 'boolean') return values.map((v) => (typeof v === 'boolean' ? Number(v) : v));
  }
  return values;
}

/** SQLITE_BUSY and its extended codes: a lock held by another connection. */
const isBusy = (error: unknown): boolean => String((error as { code?: unknown })?.code).startsWith('SQLITE_BUSY');

/**
 * `attempt`, tried again after short pauses while it meets a lock another process holds, until
 * `deadline` (a `performance.now()` time) passes; then its last error. SQLite's own busy
 * timeout would wait inside the call, holding the event loop (and every other request) still.
 */
function whenUnlocked<T>(attempt: () => T, deadline: () => number): Promise<T> {
  try {
    return Promise.resolve(attempt());
  } catch (error) {
    if (!isBusy(error)) return Promise.reject(error);
  }
  return (async () => {
    for (let pause = 1; ; pause = Math.min(2 * pause, MAX_LOCK_PAUSE_MS)) {
      await sleep(pause);
      try {
        return attempt();
      } catch (error) {
        if (!isBusy(error) || performance.now() >= deadline()) throw error;
      }
    }
  })();
}

function openDatabase(file: string, readonly: boolean): Db {
  const db = new Database(file, { readonly, fileMustExist: readonly });
  // Opening and migrating may wait for the lock inside SQLite: nothing is served yet. Once open,
  // the store waits for locks itself (`whenUnlocked`) and this is set to 0.
  db.pragma(`busy_timeout = ${DEFAULT_BUSY_TIMEOUT_MS}`);
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    // FULL: the WAL is synced at every commit, so an answered change survives power loss.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
  }
  return db;
}

/**
 * The shared SQL on one connection: statements prepared once each, booleans bound as 0 and 1
 * (SQLite binds none), and every statement waiting off the event loop while it meets a lock
 * another process holds (a write lock, or WAL recovery for a read).
 */
function sqliteConnection(db: Db, busyTimeoutMs: number): SqlConnection & { exec(sql: string): Promise<void> } {
  const statements = new Map<string, Database.Statement>();
  const statement = (sql: string): Database.Statement => {
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare(sql);
      if (s.reader) s.raw();
      statements.set(sql, s);
    }
    return s;
  };
  const unlocked = <T>(attempt: () => T): Promise<T> => {
    // The clock is read only by a call that meets a lock, not by every read of every request.
    let started: number | undefined;
    return whenUnlocked(attempt, () => (started ??= performance.now()) + busyTimeoutMs);
  };
  // Every statement of every request comes here: its first attempt makes no closure (better-sqlite3
  // takes the values as one array); only one that meets a lock goes on to wait for it.
  const attempt = <T>(act: (sql: string, values: unknown[]) => T, sql: string, values: unknown[]): Promise<T> => {
    try {
      return Promise.resolve(act(sql, values));
    } catch (error) {
      return isBusy(error) ? unlocked(() => act(sql, values)) : Promise.reject(error);
    }
  };
  const all = (sql: string, values: unknown[]) => statement(sql).all(bindable(values)) as Cells[];
  const change = (sql: string, values: unknown[]) => statement(sql).run(bindable(values)).changes;
  return {
    rows: (sql, values) => attempt(all, sql, values),
    run: (sql, values) => attempt(change, sql, values),
    exec: (sql) => unlocked(() => void db.exec(sql)),
  };
}

/** The writer, migrated, and the reader; nothing left open when either fails. */
async function openConnections(file: string): Promise<{ writer: Db; reader: Db }> {
  const writer = openDatabase(file, false);
  try {
    await applyMigrations({ ...sqliteConnection(writer, DEFAULT_BUSY_TIMEOUT_MS), begin: 'BEGIN IMMEDIATE' }, sqliteMigrations);
    return { writer, reader: openDatabase(file, true) };
  } catch (error) {
    writer.close();
    throw error;
  }
}

interface Job {
  work: (tx: StoreTx) => Promise<unknown>;
  /** False for a job whose caller needs no fsync before its answer (an export's seal). */
  durable: boolean;
  /** `performance.now()` after which the job fails if it could not start for a lock. */
  deadline: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Events of calls that changed nothing wait this long (or until this many are pending) before
 * they are committed on their own; they ride along at once with any change that commits sooner.
 * Each commit of the writer empties the reader connection's page cache (SQLite resets it when
 * the WAL has moved), so committing reads' events every few milliseconds made every lookup read
 * its pages afresh: one commit every 50 ms keeps the cache warm and costs a crash at most the
 * last 50 ms of read events, which promise no durability (docs/contract.md#7-audit-trail).
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
export async function openSqliteStore(options: SqliteStoreOptions & { undoLog: true }): Promise<RewindableStore>;
export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store>;
export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store | RewindableStore> {
  mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
  const folderLock = options.lockFile === undefined ? undefined : lockFolder(options.lockFile);
  let connections: { writer: Db; reader: Db };
  try {
    // Create the file 0600 before SQLite does: its -wal and -shm files copy the database's mode.
    closeSync(openSync(options.file, 'a', 0o600));
    connections = await openConnections(options.file);
  } catch (error) {
    folderLock?.release();
    throw error;
  }
  const { writer, reader } = connections;
  for (const db of [writer, reader]) db.pragma('busy_timeout = 0');
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const reads = sqlReads(sqliteConnection(reader, busyTimeoutMs));
  // API keys and OAuth clients are read on every request. They are kept here until the database
  // changes: `PRAGMA data_version` moves when any other connection (our writer, or `keys delete`
  // in another process) commits, so a deleted key or client is still refused at once. It is asked
  // once per turn of the event loop, not per request: asking costs a read transaction, and the
  // requests that one turn handles arrived together, so none of them can follow a commit that the
  // first did not see.
  const dataVersion = reader.prepare('PRAGMA data_version').pluck();
  const caches: Array<Map<string, unknown>> = [];
  let cacheVersion: unknown;
  let versionFresh = false;
  const versionStale = (): void => {
    versionFresh = false;
  };
  const cachedUntilChanged = <T>(read: (id: string) => Promise<T | null>) => {
    const cache = new Map<string, T | null>();
    caches.push(cache);
    return async (id: string): Promise<T | null> => {
      if (!versionFresh) {
        versionFresh = true;
        setImmediate(versionStale);
        const version = dataVersion.get();
        if (version !== cacheVersion) {
          for (const c of caches) c.clear();
          cacheVersion = version;
        }
      }
      let value = cache.get(id);
      if (value === undefined) {
        value = await read(id);
        if (cache.size >= 1000) cache.clear();
        cache.set(id, value);
      }
      return value;
    };
  };
  const writes = sqliteConnection(writer, busyTimeoutMs);
  const clock = options.clock ?? systemClock;
  /** The audit events of the job running now; written with the batch's commit if the job succeeds. */
  let jobEvents: AuditEvent[] = [];
  // One writer: transactions already take turns, so there is nothing to lock.
  const tx: StoreTx = {
    ...sqlReads(writes),
    ...sqlWrites(writes),
    lockUser: async () => {},
    lockKeys: async () => {},
    lockSigningKeys: async () => {},
    appendAudit: async (event) => void jobEvents.push(event),
  };
  const maxBatch = options.maxBatch ?? 256;
  const readerSql = sqliteConnection(reader, busyTimeoutMs);
  const readPage = readAuditPage(readerSql);
  const ping = reader.prepare(SQL.ping).pluck();
  // Run around every job of every batch: prepared once rather than parsed by exec() each time.
  const savepoint = writer.prepare('SAVEPOINT job');
  const release = writer.prepare('RELEASE job');

  let jobs: Job[] = [];
  const pendingAudit = new AuditBuffer();
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

  /**
   * BEGIN IMMEDIATE, waiting (off the event loop) while another process holds the write lock,
   * then the batch it commits: the jobs queued by then (up to `maxBatch`) and the audit events.
   * A job whose deadline passes first fails with SQLITE_BUSY; audit events alone are waited for
   * as long, then left for the next commit. Null when nothing is left to commit or BEGIN failed
   * otherwise (the queued jobs then fail with its error).
   */
  async function beginWhenUnlocked(): Promise<{ batch: Job[]; events: number } | null> {
    const auditDeadline = performance.now() + busyTimeoutMs;
    // Jobs are queued in the order of their deadlines.
    const lastDeadline = (): number => jobs.at(-1)?.deadline ?? auditDeadline;
    // A job can expire before this call's first attempt: it queued behind an earlier wait. Its
    // error is made then only: capturing an Error's stack on every commit cost 0.8 µs a toggle.
    let lastBusy: unknown;
    try {
      return await whenUnlocked(() => {
        const now = performance.now();
        const live = jobs.findIndex((j) => j.deadline > now);
        if (live !== 0 && jobs.length > 0) {
          lastBusy ??= Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
          for (const job of jobs.splice(0, live === -1 ? jobs.length : live)) job.reject(lastBusy);
        }
        if (jobs.length === 0 && pendingAudit.empty) return null;
        // A commit that holds only events of reads and refusals promises no durability to
        // anyone, so it skips the fsync; the next durable commit syncs the WAL, its frames
        // included. SQLite takes this setting outside a transaction only, hence here, and
        // the batch is taken in the same turn so that no job joins a commit without fsync.
        const durable = jobs.some((j) => j.durable);
        if (!durable) writer.pragma('synchronous = NORMAL');
        try {
          writer.exec('BEGIN IMMEDIATE');
        } catch (error) {
          if (!durable) writer.pragma('synchronous = FULL');
          lastBusy = error;
          throw error;
        }
        const batch = jobs.length > maxBatch ? jobs.splice(0, maxBatch) : jobs;
        if (batch === jobs) jobs = [];
        return { batch, events: pendingAudit.size };
      }, lastDeadline);
    } catch (error) {
      const failed = jobs;
      jobs = [];
      for (const job of failed) job.reject(error);
      return null;
    }
  }

  /** Runs and commits a batch that `beginWhenUnlocked` began; each job settles after the COMMIT. */
  async function commitBatch(batch: Job[]): Promise<void> {
    const outcomes: Array<{ ok: boolean; value: unknown }> = [];
    const durable = batch.some((j) => j.durable);
    const events = pendingAudit.take();
    try {
      for (const job of batch) {
        savepoint.run();
        jobEvents = [];
        try {
          outcomes.push({ ok: true, value: await job.work(tx) });
          release.run();
          events.push(...jobEvents);
        } catch (error) {
          writer.exec('ROLLBACK TO job; RELEASE job');
          outcomes.push({ ok: false, value: error });
        }
      }
      // Stamped last, under the write lock that a reader's seal also waits for (contract 11).
      await writeAuditEvents(writes, events, clock.nowIso());
      writer.exec('COMMIT');
      pendingAudit.written();
    } catch (error) {
      if (writer.inTransaction) writer.exec('ROLLBACK');
      pendingAudit.failed(error);
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
      while (jobs.length > 0 || !pendingAudit.empty) {
        const begun = await beginWhenUnlocked();
        // Given up on with events pending: the next job or flush tries again.
        if (!begun) break;
        await commitBatch(begun.batch);
        // A failed audit-only commit is not retried in a tight loop; the next job retries it.
        if (begun.batch.length === 0 && !pendingAudit.empty) break;
      }
    } finally {
      draining = false;
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
      if (jobs.length > 0) schedule();
    }
  }

  const store: Store = {
    engine: 'sqlite',
    ...reads,
    ...sqlAuditLogReads(readerSql),
    apiKey: cachedUntilChanged(reads.apiKey),
    oauthClient: cachedUntilChanged(reads.oauthClient),
    transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
      if (closed) return Promise.reject(new Error('store is closed'));
      return new Promise<T>((resolve, reject) => {
        jobs.push({ work, durable: true, deadline: performance.now() + busyTimeoutMs, resolve: resolve as (v: unknown) => void, reject });
        schedule();
      });
    },
    async sealAudit(end) {
      if (closed) throw new Error('store is closed');
      if (await sealedAfter(readerSql, end)) return;
      // It changes one row that no answer depends on surviving a crash: no fsync of its own.
      return new Promise<void>((resolve, reject) => {
        jobs.push({ work: (t) => t.sealAudit(end), durable: false, deadline: performance.now() + busyTimeoutMs, resolve: resolve as (v: unknown) => void, reject });
        schedule();
      });
    },
    recordAudit(event) {
      if (closed) return;
      if (pendingAudit.push(event) >= AUDIT_BATCH) schedule();
      else scheduleAudit();
    },
    flush() {
      if (!draining && !scheduled && jobs.length === 0 && pendingAudit.empty) return Promise.resolve();
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        schedule();
      });
    },
    searchAudit: searchAudit(readerSql),
    auditPages: (query?: AuditQuery) => auditPagesOf(readPage, query),
    audit: (query?: AuditQuery): Promise<StoredAuditEvent[]> => allAuditEvents(auditPagesOf(readPage, query)),
    async ping() {
      ping.get();
    },
    stats: () => ({ auditPending: pendingAudit.size }),
    async close() {
      if (closed) return;
      await store.flush();
      closed = true;
      reader.close();
      writer.close();
      folderLock?.release();
    },
  };
  if (!options.undoLog) return store;

  const undo = makeUndoLog(writer);
  /** Until nothing is queued or being committed and no audit event waits: then a rewind sees every change. */
  const settled = async (): Promise<void> => {
    for (let tries = 0; draining || scheduled || jobs.length > 0 || !pendingAudit.empty; tries++) {
      if (closed || tries === 100) throw new Error('the store did not settle');
      await store.flush();
    }
  };
  const rewindable: RewindableStore = Object.assign(store, {
    async mark() {
      await settled();
      // The WAL copied into the file now, at the mark, rather than by an automatic checkpoint in
      // the middle of some later commit or rewind (a large seed leaves a large WAL).
      writer.pragma('wal_checkpoint(TRUNCATE)');
      undo.mark();
      return writer.serialize();
    },
    async rewind(maxChanges: number) {
      await settled();
      // From the check to the commit in one synchronous stretch: no job can start in between.
      if (undo.size() > maxChanges) return false;
      undo.rewind();
      return true;
    },
  });
  return rewindable;
}
