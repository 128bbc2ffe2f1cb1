import { userInfo } from 'node:os';
import { Client, DatabaseError, Pool, escapeLiteral, type ClientConfig, type PoolClient, type QueryResult } from 'pg';
import { allAuditEvents, auditPagesOf, type AuditQuery, type Store, type StoreTx } from '../../domain/store.ts';
import { systemClock, type Clock } from '../../domain/clock.ts';
import type { AuditEvent, StoredAuditEvent } from '../../domain/types.ts';
import { AuditBuffer } from '../audit-buffer.ts';
import { applyMigrations } from '../migrate.ts';
import type { Cells } from '../rows.ts';
import {
  SQL, millisecondAfter, numbered, readAuditPage, searchAudit, sealedAfter, sqlAuditLogReads, sqlReads, sqlWrites, stampAuditEvents, writeAuditEvents, writeUnstampedAuditEvents,
  type SqlConnection,
} from '../sql.ts';
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
  /** Stamps the events of each commit (their `loggedAt`, never before the last stamp); default the system clock. */
  clock?: Clock;
}

export interface PostgresStore extends Store {
  readonly engine: 'postgres';
  /** The schema the tables live in. */
  readonly schema: string;
}

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_POOL_SIZE = 10;
/** Events of calls that changed nothing written in one transaction. */
const AUDIT_BATCH = 500;
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

interface Queryable {
  query(config: { text: string; values: unknown[]; rowMode?: 'array' }): Promise<QueryResult>;
}

/** The shared SQL on a pool or on one connection: `?` numbered, rows as arrays of cells. */
function postgresConnection(db: Queryable): SqlConnection {
  return {
    rows: async (sql, values) => (await db.query({ text: numbered(sql), values, rowMode: 'array' })).rows as unknown as Cells[],
    run: async (sql, values) => (await db.query({ text: numbered(sql), values })).rowCount ?? 0,
  };
}

/**
 * The transactions of one pooled connection, one at a time: their statements, with PostgreSQL's
 * locks, and the audit events that wait for each COMMIT. Made once per connection and pointed at
 * each transaction in turn (`start`): spreading the statements of sqlReads and sqlWrites into a
 * new object for every transaction cost a toggle a twentieth of its CPU time (issue 11).
 */
function connectionTransactions(lockKey: string) {
  let db: Queryable | undefined;
  let events: AuditEvent[] = [];
  const sql = postgresConnection({ query: (statement) => db!.query(statement) });
  const tx: StoreTx = {
    ...sqlReads(sql),
    ...sqlWrites(sql),
    appendAudit: async (event) => void events.push(event),
    // Without values, so that it travels with BEGIN (attempt); the id is quoted by the driver.
    lockUser: async (userId) => void (await db!.query({ text: `SELECT 1 FROM users WHERE id = ${escapeLiteral(userId)} FOR UPDATE`, values: [] })),
    // The key list has no row to lock (the rule is about how many there are): an advisory lock
    // of this schema's, held until the transaction ends, stands for it.
    lockKeys: async () => void (await sql.rows('SELECT pg_advisory_xact_lock(hashtext(?), 1)', [lockKey])),
    lockSigningKeys: async () => void (await sql.rows('SELECT pg_advisory_xact_lock(hashtext(?), 2)', [lockKey])),
  };
  return {
    tx,
    sql,
    /** The next transaction sends its statements to `next`; returns where its audit events wait. */
    start(next: Queryable): AuditEvent[] {
      db = next;
      events = [];
      return events;
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
      const sql = postgresConnection(client);
      await applyMigrations({ ...sql, exec: async (text) => void (await client.query(text)), begin: 'BEGIN' }, postgresMigrations);
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

  const poolSql = postgresConnection(pool);
  const reads = sqlReads(poolSql);
  const clock = options.clock ?? systemClock;
  let closed = false;

  const transactionsOf = new WeakMap<PoolClient, ReturnType<typeof connectionTransactions>>();

  /** One attempt at a transaction. A connection whose state is unknown after a failure is discarded. */
  async function attempt<T>(work: (tx: StoreTx, sql: SqlConnection) => Promise<T>): Promise<T> {
    const client: PoolClient = await pool.connect();
    let broken: Error | undefined;
    let stamp = false;
    // A connection that broke while checked out (between two statements, or as it was handed
    // out) is released with its error, so that the pool discards it.
    const onError = (error: Error): void => void (broken ??= error);
    client.on('error', onError);
    const send = async <R>(query: () => Promise<R>): Promise<R> => {
      try {
        return await query();
      } catch (error) {
        // A server error leaves the connection usable (ROLLBACK follows); anything else (the
        // connection dropped or was ended by the server, a client-side timeout with the
        // statement maybe still running) does not.
        if (!answeredByServer(error)) broken ??= error instanceof Error ? error : new Error(String(error));
        throw error;
      }
    };
    // BEGIN travels with the transaction's first statement when that one has no values (a
    // change's lock of its user, a stamping pass's lock of the sequencer), as one simple query
    // whose transaction goes on past its end: a round trip fewer for every change, a tenth of a
    // toggle's rate on PostgreSQL (issue 11). A transaction that sent nothing ends with nothing.
    let begun = false;
    const db: Queryable = {
      query: (statement) =>
        send(async () => {
          if (begun) return client.query(statement);
          begun = true;
          if (statement.values.length > 0) {
            await client.query('BEGIN');
            return client.query(statement);
          }
          const results = (await client.query({ ...statement, text: `BEGIN; ${statement.text}` })) as unknown as QueryResult[];
          return results[1]!;
        }),
    };
    try {
      let transactions = transactionsOf.get(client);
      if (!transactions) transactionsOf.set(client, (transactions = connectionTransactions(lockKey)));
      const events = transactions.start(db);
      const result = await work(transactions.tx, transactions.sql);
      // Unstamped, so that calls commit side by side; the stamper gives them their place in the logs after.
      await writeUnstampedAuditEvents(transactions.sql, events);
      if (begun) await send(() => client.query('COMMIT'));
      stamp = events.length > 0;
      return result;
    } catch (error) {
      if (begun && !broken) await send(() => client.query('ROLLBACK')).catch(() => {});
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken ?? false);
      // Once the connection is back in the pool (a pass needs one): the call answers after its
      // events are in the logs, as it did when it stamped them itself. Waiting calls share a pass.
      // A pass that fails leaves them for the next; the call's change is committed all the same.
      if (stamp) await stampSoon().catch(() => {});
    }
  }

  // ---- stamping: the events of committed calls get their stamp and log positions ----
  const setStamps = async (sql: SqlConnection, loggedAt: string, seqs: number[], admin: Array<number | null>, user: Array<number | null>) =>
    void (await sql.run(
      'UPDATE audit_events AS e SET logged_at = ?, admin_position = v.a, user_position = v.u ' +
        'FROM unnest(?::bigint[], ?::bigint[], ?::bigint[]) AS v(seq, a, u) WHERE e.seq = v.seq',
      [loggedAt, seqs, admin, user],
    ));
  /** Stamps every committed unstamped event (any instance's), then, given `end`, seals it (contract 11). */
  const stampTransaction = (end?: string) =>
    attempt(async (_tx, sql) => {
      await stampAuditEvents(sql, clock.nowIso(), (...args) => setStamps(sql, ...args));
      if (end !== undefined) await sql.run(SQL.sealAudit, [millisecondAfter(end), end]);
    });
  let stamping: Promise<void> | null = null;
  let stampingNext: Promise<void> | null = null;
  let stampFailures = 0;
  /**
   * A stamping pass that starts after this call: one at a time per instance, each taking all that
   * is waiting, so that a burst of commits is stamped by a pass or two. A failed pass is logged;
   * the next commit, flush or export stamps what it left.
   */
  function stampSoon(): Promise<void> {
    if (!stamping) {
      stamping = stampTransaction()
        .then(
          () => void (stampFailures = 0),
          (error: unknown) => {
            if (stampFailures++ === 0) log.error({ err: { message: (error as Error).message } }, 'audit events could not be stamped into the event logs; retrying with the next write');
            throw error;
          },
        )
        .finally(() => (stamping = null));
      return stamping;
    }
    stampingNext ??= stamping.catch(() => {}).then(() => {
      stampingNext = null;
      return stampSoon();
    });
    return stampingNext;
  }

  // ---- buffered audit events of calls that changed nothing ----
  let dropped = 0;
  const pending = new AuditBuffer({
    onDrop: (n) => {
      if (dropped === 0) log.error({ dropped: n }, 'audit buffer full while the database is unreachable: dropping the oldest events');
      dropped += n;
    },
  });
  let writing = false;
  let scheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;

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
    while (!pending.empty) {
      const batch = pending.take(AUDIT_BATCH);
      try {
        const fresh = uncertain ? await notWritten(batch) : batch;
        // Stamped as they go in, as SQLite's group commit does: one writer per instance holds the
        // sequencer's row from the stamp to its COMMIT. Written unstamped, each read's event was
        // written twice (inserted, then stamped by a pass), a tenth of a lookup's rate (issue 11).
        if (fresh.length > 0) await attempt((_tx, sql) => writeAuditEvents(sql, fresh, clock.nowIso()));
        uncertain = false;
      } catch (error) {
        failure = error;
        // Without an answer from the server (the connection broke or was ended, a client-side
        // timeout), the INSERT may have committed all the same: the retry must not write its
        // events twice.
        if (!answeredByServer(error)) uncertain = true;
        break;
      }
      pending.written();
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
      log.error({ err: { message: (failure as Error).message }, pending: pending.size }, 'audit events could not be written; keeping them and retrying');
    }
    pending.failed(failure);
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

  /** Every event recorded so far written, and every event written so far stamped. */
  const flush = async (): Promise<void> => {
    if (!pending.empty) {
      if (retryTimer) {
        clearTimeout(retryTimer);
        retryTimer = undefined;
      }
      scheduleWrite();
      await pending.flush();
    }
    await stampSoon();
  };

  const readPage = readAuditPage(poolSql);


  return {
    engine: 'postgres',
    schema: schemaName,
    ...reads,
    ...sqlAuditLogReads(poolSql),
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
    async sealAudit(end) {
      if (await sealedAfter(poolSql, end)) return;
      // The events committed by now are stamped under the same hold of the sequencer: an export
      // sees every call answered before it, and what commits later is stamped after `end`.
      await stampTransaction(end);
      reachable();
    },
    recordAudit(event) {
      if (closed) return;
      pending.push(event);
      scheduleWrite();
    },
    flush,
    searchAudit: searchAudit(poolSql),
    auditPages: (query?: AuditQuery) => auditPagesOf(readPage, query),
    audit: (query?: AuditQuery): Promise<StoredAuditEvent[]> => allAuditEvents(auditPagesOf(readPage, query)),
    async ping() {
      await poolSql.rows(SQL.ping, []);
      reachable();
    },
    stats: () => ({
      auditPending: pending.size,
      pool: { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolSize },
    }),
    async close() {
      if (closed) return;
      closed = true;
      let failure: unknown;
      await flush().catch((error: unknown) => (failure = error));
      if (retryTimer) clearTimeout(retryTimer);
      await pool.end();
      if (failure !== undefined) {
        throw new Error(`${pending.size} audit events could not be written before closing: ${(failure as Error).message}`);
      }
    },
  };
}
