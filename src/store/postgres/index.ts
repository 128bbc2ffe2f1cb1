import { userInfo } from 'node:os';
import { Client, DatabaseError, Pool, type ClientConfig, type PoolClient, type QueryResult } from 'pg';
import type { AuditEvent, StoredAuditEvent } from '../../domain/types.ts';
import {
  API_KEY_COLUMNS, AUDIT_COLUMNS, CREDENTIAL_COLUMNS, USER_COLUMNS, apiKeyValues, auditValues, credentialValues,
  toApiKey, toAuditEvent, toCredential, toUser, userValues, type Cells,
} from '../rows.ts';
import { allAuditEvents, auditPagesOf, type AuditPageReader, type AuditQuery, type Store, type StoreReader, type StoreTx } from '../store.ts';
import { postgresMigrations } from './migrations.ts';

type Row = Record<string, unknown>;

/** Where the store reports faults that no caller is waiting on (audit writes, idle connections). */
export interface StoreLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`; libpq-style query parameters are honoured. */
  url: string;
  /**
   * The schema that holds the tables (created when missing). Without it, the tables live in the
   * connection's `search_path` (usually `public`).
   */
  schema?: string;
  /** Most connections this instance opens (default 10). */
  poolSize?: number;
  /**
   * Bound, in milliseconds, on each step that waits for the database: getting a connection,
   * one statement, a lock (default 5000). A request during an outage fails within it.
   */
  timeoutMs?: number;
  /** Shown in `pg_stat_activity` (default `ds100-admin`). */
  applicationName?: string;
  log?: StoreLog;
}

/** What the metrics report of the pool (`/metrics`). */
export interface PoolStats {
  /** Connections open, in use or idle. */
  total: number;
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
  max: number;
  /** Audit events of `recordAudit` not yet written. */
  auditPending: number;
}

export interface PostgresStore extends Store {
  readonly engine: 'postgres';
  /** The schema the tables live in. */
  readonly schema: string;
  poolStats(): PoolStats;
}

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_POOL_SIZE = 10;
/** Rows of one multi-row audit INSERT (9 parameters each, far below PostgreSQL's 65535). */
const AUDIT_BATCH = 500;
/** Audit events kept for retry while the database is unreachable; older ones are dropped. */
const MAX_PENDING_AUDIT = 10_000;
/**
 * SQLSTATEs after which a transaction is run again from the start: serialization failure,
 * deadlock, and unique violation. The last is a race on an insert (two instances adding the same
 * user or serial at once): the second attempt sees the row committed meanwhile and answers what
 * the domain answers when the row exists (409), as SQLite's serialized writes would.
 */
const RETRYABLE = new Set(['40001', '40P01', '23505']);
const MAX_ATTEMPTS = 3;

/**
 * Whether `error` is the server's answer to a statement on a connection that goes on: not a
 * broken connection, a client-side timeout, or a FATAL (pg_terminate_backend, a shutdown), after
 * which the connection is gone and the statement may have committed before it ended.
 */
function answeredByServer(error: unknown): boolean {
  return error instanceof DatabaseError && error.severity !== 'FATAL' && error.severity !== 'PANIC';
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const silentLog: StoreLog = { warn() {}, error() {} };

/**
 * The connection string as libpq would read it, and with `search_path` set to `schema` for every
 * session. Like libpq (and psql), a URL without a user name means PGUSER, else the operating
 * system user; `pg` alone would send none when USER is unset (a container, a CI runner).
 */
export function connectionUrl(url: string, schema: string | undefined): string {
  const u = new URL(url);
  if (!u.username && !u.searchParams.has('user') && !process.env.PGUSER && !process.env.USER) {
    try {
      u.username = encodeURIComponent(userInfo().username);
    } catch {
      // no passwd entry: leave it to the server to refuse
    }
  }
  if (schema) {
    const options = u.searchParams.get('options');
    u.searchParams.set('options', [options, `-c search_path=${schema}`].filter(Boolean).join(' '));
  }
  return u.toString();
}

/** A statement, or one whose rows come back as arrays of cells in column order. */
type Statement = string | { text: string; values: unknown[]; rowMode: 'array' };

interface Queryable {
  query(statement: Statement, values?: unknown[]): Promise<QueryResult>;
}

/**
 * The reads of `StoreReader` over the pool (committed data) or over a transaction's connection.
 * Inside a transaction every read locks the rows it returns (`FOR UPDATE`) until COMMIT, so that
 * two instances deciding on the same credential take turns: the second reads the first one's
 * committed result, never the value both started from.
 */
function makeReads(db: Queryable, inTransaction: boolean, lockKey: string): StoreReader {
  const lock = inTransaction ? ' FOR UPDATE' : '';
  const all = async (text: string, values: unknown[]): Promise<Cells[]> =>
    (await db.query({ text, values, rowMode: 'array' })).rows as unknown as Cells[];
  const one = async <T>(text: string, values: unknown[], map: (r: Cells) => T): Promise<T | null> => {
    const rows = await all(text, values);
    return rows.length === 0 ? null : map(rows[0]!);
  };
  return {
    userById: (id) => one(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1${lock}`, [id], toUser),
    userByEmail: (email) => one(`SELECT ${USER_COLUMNS} FROM users WHERE email_lower = $1${lock}`, [email.toLowerCase()], toUser),
    credentialsByDevice: async (device) =>
      (await all(`SELECT ${CREDENTIAL_COLUMNS} FROM credentials WHERE device_serial = $1 ORDER BY registered_date, token_serial${lock}`, [device])).map(
        toCredential,
      ),
    credentialsOfUserDevice: async (userId, device) =>
      (
        await all(
          `SELECT ${CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = $1 AND device_serial = $2 ORDER BY registered_date, token_serial${lock}`,
          [userId, device],
        )
      ).map(toCredential),
    credentialByTokenSerial: (token) => one(`SELECT ${CREDENTIAL_COLUMNS} FROM credentials WHERE token_serial = $1${lock}`, [token], toCredential),
    async deviceCountOfUser(userId) {
      // A count locks no row: in a transaction, lock the user instead, so that two registrations
      // for one user take turns and the limit of five devices holds across instances.
      if (inTransaction) await db.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
      const rows = await all('SELECT COUNT(DISTINCT device_serial) FROM credentials WHERE user_id = $1', [userId]);
      return Number(rows[0]?.[0] ?? 0);
    },
    apiKey: (accessId) => one(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE access_id = $1${lock}`, [accessId], toApiKey),
    async apiKeys() {
      // Counting keys before adding one must see keys other instances are adding: a transaction
      // that lists the keys holds this lock until it ends.
      if (inTransaction) await db.query('SELECT pg_advisory_xact_lock(hashtext($1), 1)', [lockKey]);
      return (await all(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, access_id${lock}`, [])).map(toApiKey);
    },
  };
}

const AUDIT_INSERT = 'INSERT INTO audit_events (at, subject, role, client_address, request_id, operation, target, outcome, status) VALUES ';

/** One INSERT of many audit rows. */
function auditInsert(events: AuditEvent[]): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const tuples = events.map((e) => {
    const base = values.length;
    values.push(...auditValues(e));
    return `(${Array.from({ length: 9 }, (_, i) => `$${base + i + 1}`).join(', ')})`;
  });
  return { text: AUDIT_INSERT + tuples.join(', '), values };
}

function makeTx(db: Queryable, lockKey: string): StoreTx {
  const run = async (text: string, values: unknown[]): Promise<number> => (await db.query(text, values)).rowCount ?? 0;
  return {
    ...makeReads(db, true, lockKey),
    insertUser: async (u) =>
      void (await run(
        `INSERT INTO users (id, email, email_lower, first_name, last_name, creation_date, identity_source, user_status, mark_deleted, mark_deleted_at, mark_deleted_by, last_sync_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        userValues(u),
      )),
    insertCredential: async (c) =>
      void (await run(
        `INSERT INTO credentials (${CREDENTIAL_COLUMNS}) VALUES (${Array.from({ length: 17 }, (_, i) => `$${i + 1}`).join(', ')})`,
        credentialValues(c),
      )),
    setCredentialStatus: async (id, ch) =>
      void (await run(
        'UPDATE credentials SET token_status = $1, token_status_changed_at = $2, token_status_changed_by = $3, updated_at = $2 WHERE id = $4',
        [ch.tokenStatus, ch.changedAt, ch.changedBy, id],
      )),
    clearCredentialPin: async (id, at) => void (await run('UPDATE credentials SET pin_set = FALSE, updated_at = $1 WHERE id = $2', [at, id])),
    deleteCredential: async (id) => void (await run('DELETE FROM credentials WHERE id = $1', [id])),
    insertApiKey: async (k) => void (await run(`INSERT INTO api_keys (${API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`, apiKeyValues(k))),
    deleteApiKey: async (accessId) => (await run('DELETE FROM api_keys WHERE access_id = $1', [accessId])) > 0,
    appendAudit: async (e) => {
      const { text, values } = auditInsert([e]);
      await run(text, values);
    },
  };
}

/**
 * Applies pending migrations under a session advisory lock, so that instances started at the
 * same moment apply each migration once: the first takes the lock and migrates, the others wait
 * for it and then find nothing left to do. Runs on a connection of its own without the request
 * timeouts, since waiting for another instance's migration is expected.
 */
async function migrate(config: ClientConfig, schema: string | undefined): Promise<string> {
  const client = new Client(config);
  client.on('error', () => {}); // reported by the query that fails
  await client.connect();
  try {
    const name = schema ?? ((await client.query('SELECT current_schema() AS s')).rows[0] as Row | undefined)?.s;
    if (typeof name !== 'string') {
      throw new Error('the database search_path names no existing schema: create one, or give the store a schema');
    }
    const lockKey = `ds100-admin:${name}`;
    await client.query('SELECT pg_advisory_lock(hashtext($1), 0)', [lockKey]);
    try {
      if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      const applied = new Set((await client.query('SELECT version FROM schema_migrations')).rows.map((r: Row) => Number(r.version)));
      for (const m of postgresMigrations) {
        if (applied.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
            m.version, m.name, new Date().toISOString(),
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1), 0)', [lockKey]).catch(() => {});
    }
    return name;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The PostgreSQL store, for several instances sharing one database. Reads go to the pool;
 * `transaction` runs BEGIN..COMMIT on one pooled connection, with locking reads; audit events of
 * calls that changed nothing are buffered and written in multi-row INSERTs, off the answer's
 * path. Every wait on the database is bounded by `timeoutMs`.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const { schema } = options;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`invalid schema name "${schema}": lower-case letters, digits and _ only`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const poolSize = options.poolSize ?? DEFAULT_POOL_SIZE;
  const log = options.log ?? silentLog;
  const base: ClientConfig = {
    connectionString: connectionUrl(options.url, schema),
    application_name: options.applicationName ?? 'ds100-admin',
    connectionTimeoutMillis: timeoutMs,
    keepAlive: true,
  };

  const schemaName = await migrate(base, schema);
  const lockKey = `ds100-admin:${schemaName}`;

  const pool = new Pool({
    ...base,
    max: poolSize,
    idleTimeoutMillis: 30_000,
    // Server side: a statement (or a lock wait) longer than this is cancelled, the connection kept.
    statement_timeout: timeoutMs,
    // Client side, for a server that stopped answering at all: the connection is then discarded.
    query_timeout: timeoutMs + 1000,
    // A transaction left open by a stalled process does not hold its row locks for long.
    idle_in_transaction_session_timeout: Math.max(10_000, 2 * timeoutMs),
  });
  // An idle connection that breaks (the server restarted) is dropped by the pool; say so once per burst.
  let lastIdleError = 0;
  pool.on('error', (err) => {
    if (Date.now() - lastIdleError > 10_000) log.warn({ err: { message: err.message } }, 'an idle database connection failed; the pool replaces it');
    lastIdleError = Date.now();
  });
  // pg-pool drops its own 'error' listener as it hands a connection out, before the caller can
  // attach one: a FATAL read together with the ReadyForQuery that ends the connection's startup
  // (a pg_terminate_backend, a failover) would be an unhandled 'error' event, and end the
  // process. A connection in use reports its failure through the query that fails instead.
  pool.on('connect', (client) => void client.on('error', () => {}));

  const reads = makeReads(pool, false, lockKey);
  let closed = false;

  /** One attempt at a transaction. A connection whose state is unknown after a failure is discarded. */
  async function attempt<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    const client: PoolClient = await pool.connect();
    let broken: Error | undefined;
    // A connection that broke while checked out (between two statements, or as it was handed
    // out) is released with its error, so that the pool discards it.
    const onError = (error: Error): void => void (broken ??= error);
    client.on('error', onError);
    const db: Queryable = {
      async query(statement, values) {
        try {
          return typeof statement === 'string' ? await client.query(statement, values) : await client.query(statement);
        } catch (error) {
          // A server error leaves the connection usable (ROLLBACK follows); anything else (the
          // connection dropped or was ended by the server, a client-side timeout with the
          // statement maybe still running) does not.
          if (!answeredByServer(error)) broken ??= error instanceof Error ? error : new Error(String(error));
          throw error;
        }
      },
    };
    try {
      await db.query('BEGIN');
      const result = await work(makeTx(db, lockKey));
      await db.query('COMMIT');
      return result;
    } catch (error) {
      if (!broken) await db.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken ?? false);
    }
  }

  // ---- buffered audit events of calls that changed nothing ----
  const pending: AuditEvent[] = [];
  let recorded = 0;
  let done = 0;
  let writing = false;
  let scheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let dropped = 0;
  let waiters: Array<{ upTo: number; resolve: () => void; reject: (e: unknown) => void }> = [];

  const settle = (error?: unknown): void => {
    const still: typeof waiters = [];
    for (const w of waiters) {
      if (w.upTo <= done) w.resolve();
      else if (error !== undefined) w.reject(error);
      else still.push(w);
    }
    waiters = still;
  };

  const dropOverflow = (): void => {
    if (writing || pending.length <= MAX_PENDING_AUDIT) return;
    const n = pending.length - MAX_PENDING_AUDIT;
    pending.splice(0, n);
    done += n;
    if (dropped === 0) log.error({ dropped: n }, 'audit buffer full while the database is unreachable: dropping the oldest events');
    dropped += n;
    settle();
  };

  const scheduleWrite = (): void => {
    if (scheduled || writing || retryTimer) return;
    scheduled = true;
    setImmediate(() => void writeAudit());
  };

  /** The last audit INSERT failed without the server saying so: it may or may not be in. */
  let uncertain = false;

  /** The events of `batch` not in the table yet (request ids are unique to a process's requests). */
  async function notWritten(batch: AuditEvent[]): Promise<AuditEvent[]> {
    const ids = batch.map((e) => e.requestId).filter((id): id is string => id !== null);
    if (ids.length === 0) return batch;
    const since = batch.reduce((min, e) => (e.at < min ? e.at : min), batch[0]!.at);
    const { rows } = await pool.query<Row>(
      'SELECT request_id, operation, status, at FROM audit_events WHERE at >= $1 AND request_id = ANY($2::text[])',
      [since, ids],
    );
    const key = (id: unknown, operation: unknown, status: unknown, at: unknown) => `${String(id)}\n${String(operation)}\n${Number(status)}\n${String(at)}`;
    const there = new Set(rows.map((r) => key(r.request_id, r.operation, r.status, r.at)));
    return batch.filter((e) => e.requestId === null || !there.has(key(e.requestId, e.operation, e.status, e.at)));
  }

  async function writeAudit(): Promise<void> {
    scheduled = false;
    writing = true;
    let failure: unknown;
    // Everything recorded while one INSERT runs goes into the next: batches grow with the load.
    while (pending.length > 0) {
      const batch = pending.slice(0, AUDIT_BATCH);
      try {
        const fresh = uncertain ? await notWritten(batch) : batch;
        if (fresh.length > 0) {
          const { text, values } = auditInsert(fresh);
          await pool.query(text, values);
        }
        uncertain = false;
      } catch (error) {
        failure = error;
        // Without an answer from the server (the connection broke or was ended, a client-side
        // timeout), the INSERT may have committed all the same: the retry must not write its
        // events twice.
        if (!answeredByServer(error)) uncertain = true;
        break;
      }
      pending.splice(0, batch.length);
      done += batch.length;
      settle();
    }
    writing = false;
    if (failure === undefined) {
      if (failures > 0) log.warn({ dropped }, 'audit events are being written again');
      failures = 0;
      dropped = 0;
      return;
    }
    failures++;
    if (failures === 1) {
      log.error({ err: { message: (failure as Error).message }, pending: pending.length }, 'audit events could not be written; keeping them and retrying');
    }
    dropOverflow();
    settle(failure);
    if (!closed) {
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        scheduleWrite();
      }, Math.min(30_000, 250 * 2 ** Math.min(failures, 7)));
      retryTimer.unref();
    }
  }

  /**
   * The database answered a request: events waiting out a retry delay are written now, not up to
   * 30 s later. Under load, a buffer that waits that long for a database that is back overflows,
   * and its oldest events are dropped.
   */
  const reachable = (): void => {
    if (!retryTimer) return;
    clearTimeout(retryTimer);
    retryTimer = undefined;
    scheduleWrite();
  };

  const flush = (): Promise<void> => {
    if (done >= recorded) return Promise.resolve();
    const upTo = recorded;
    if (retryTimer) {
      clearTimeout(retryTimer);
      retryTimer = undefined;
    }
    scheduleWrite();
    return new Promise<void>((resolve, reject) => waiters.push({ upTo, resolve, reject }));
  };

  const readAuditPage: AuditPageReader = async (afterSeq, since, size) => {
    const { rows } = await pool.query<Cells>({
      text: `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq > $1 AND at >= $2 ORDER BY seq LIMIT $3`,
      values: [afterSeq, since, size],
      rowMode: 'array',
    });
    return rows.map(toAuditEvent);
  };

  return {
    engine: 'postgres',
    schema: schemaName,
    ...reads,
    async transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
      if (closed) throw new Error('store is closed');
      for (let n = 1; ; n++) {
        try {
          const result = await attempt(work);
          reachable();
          return result;
        } catch (error) {
          if (n >= MAX_ATTEMPTS || !(error instanceof DatabaseError) || !RETRYABLE.has(error.code ?? '')) throw error;
        }
      }
    },
    recordAudit(event) {
      if (closed) return;
      pending.push(event);
      recorded++;
      dropOverflow();
      scheduleWrite();
    },
    flush,
    auditPages: (query?: AuditQuery) => auditPagesOf(readAuditPage, query),
    audit: (query?: AuditQuery): Promise<StoredAuditEvent[]> => allAuditEvents(auditPagesOf(readAuditPage, query)),
    async ping() {
      await pool.query('SELECT 1');
      reachable();
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolSize, auditPending: pending.length }),
    async close() {
      if (closed) return;
      closed = true;
      let failure: unknown;
      await flush().catch((error: unknown) => (failure = error));
      if (retryTimer) clearTimeout(retryTimer);
      await pool.end();
      if (failure !== undefined) {
        throw new Error(`${pending.length} audit events could not be written before closing: ${(failure as Error).message}`);
      }
    },
  };
}
