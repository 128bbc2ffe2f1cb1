/**
 * What the reliability suites share (concurrent writers, crash durability, faults): a deployment
 * of the real `ds100-admin serve` on SQLite or PostgreSQL with a seeded directory, a seeded PRNG,
 * and the checks that hold a request log against the audit trail and the stored state.
 *
 * The engine is TEST_STORE (sqlite by default); test/run.ts runs this folder once per engine.
 * STRESS=1 (`npm run test:stress`) scales every count up. SEED=n replays a run's random choices
 * (op mix, kill moments, fault durations); the seed is printed as a test diagnostic.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { systemClock } from '../../src/domain/clock.ts';
import { makeDirectoryService } from '../../src/domain/directory.ts';
import { toStatusItem, type StatusItem } from '../../src/domain/credentials.ts';
import type { Actor, StoredAuditEvent, TokenStatus } from '../../src/domain/types.ts';
import { SQLITE_FILE, openStore } from '../../src/store/open.ts';
import { connectionUrl, openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.ts';
import { AUDIT_COLUMNS, toAuditEvent } from '../../src/store/rows.ts';
import { callApi, readKeyFile, startServe, stopServe, tokenFromKeyFile, type ServeProcess } from './serve-process.ts';
import { freshSchema, tempDir, type Engine } from './stores.ts';

export const STRESS = process.env.STRESS === '1' || process.env.STRESS === 'true';
export const ENGINE: Engine = process.env.TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
/** The seed of this run's random choices. */
export const SEED = process.env.SEED ? Number(process.env.SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;

/** Every server of a deployment has this public URL, so one token serves all of them and their restarts. */
export const PUBLIC_URL = 'http://ds100-admin.reliability.test';
/** The only body a 500 may carry (spec 1). */
export const INTERNAL_BODY = '{"code":"500 INTERNAL_SERVER_ERROR","description":"An internal error occurred."}';
/** Bound on one request: far above any database timeout used here, so only a hang reaches it. */
export const REQUEST_BOUND_MS = 20_000;

/** mulberry32: a small, fast PRNG whose sequence a seed fixes. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- the directory ----

/** A user's DS100: enable and disable act on all of its OTP credentials together. */
export interface Pair {
  key: string;
  userId: string;
  device: string;
  tokens: string[];
  initial: TokenStatus;
}

/** A credential alone on its device, with its PIN set: cleared, then deleted, by the crash suite. */
export interface Deletable {
  key: string;
  userId: string;
  device: string;
  token: string;
}

export interface Directory {
  pairs: Pair[];
  deletables: Deletable[];
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** `pairs` DS100s (every other one with two OTP credentials) and `deletables` single credentials. */
export function makeDirectory(pairs: number, deletables = 0): Directory {
  return {
    pairs: Array.from({ length: pairs }, (_, i) => {
      const device = `71${pad(i, 7)}`;
      return {
        key: `pair:${i}`,
        userId: `rel-pair-${i}`,
        device,
        tokens: i % 2 === 1 ? [`0${device}31`, `0${device}32`] : [`0${device}31`],
        initial: i % 3 === 0 ? 'Disabled' : 'Enabled',
      };
    }),
    deletables: Array.from({ length: deletables }, (_, i) => {
      const device = `72${pad(i, 7)}`;
      return { key: `cred:${i}`, userId: `rel-del-${i}`, device, token: `0${device}31` };
    }),
  };
}

const seeder: Actor = { kind: 'operator', subject: 'reliability-seed', role: null, clientAddress: 'local', requestId: null };

// ---- a deployment: data folder, database, servers ----

export interface Deployment {
  engine: Engine;
  dataDir: string;
  /** PostgreSQL: the URL the servers are given (search_path = the test's schema). */
  databaseUrl?: string;
  /** The bootstrap SuperAdmin key file, once the first server printed it. */
  keyFile?: string;
  subject?: string;
  /** Starts `serve` on this deployment; `databaseUrl` overrides the URL (a proxy in front). */
  start(options?: { databaseUrl?: string; args?: string[] }): Promise<ServeProcess>;
  /** A fresh token of the bootstrap key (valid for ten minutes, on every server of the deployment). */
  token(): Promise<string>;
  /** The whole audit trail in commit order, read from the database by this process. */
  trail(): Promise<StoredAuditEvent[]>;
  dispose(): Promise<void>;
}

/**
 * A data folder (a temporary one unless `dataDir` is given) and, on PostgreSQL, a fresh schema
 * (in the test database unless `postgresUrl` names another); the directory is seeded through
 * the store the CLI uses, before any server starts.
 */
export async function deploy(engine: Engine, directory: Directory, options: { dataDir?: string; postgresUrl?: string } = {}): Promise<Deployment> {
  const temp = options.dataDir ? undefined : tempDir('ds100-reliability-');
  const dataDir = options.dataDir ?? temp!.path;
  const fresh = engine === 'postgres' ? await freshSchema('ds100_rel', options.postgresUrl) : undefined;
  const databaseUrl = fresh ? connectionUrl(fresh.url, fresh.schema) : undefined;
  const servers: ServeProcess[] = [];
  let reader: PostgresStore | undefined;

  const store = await openStore({ dataDir, ...(databaseUrl ? { databaseUrl } : {}) });
  try {
    const dir = makeDirectoryService({ store, clock: systemClock });
    const users = [...directory.pairs, ...directory.deletables].map((p) => ({ id: p.userId, email: `${p.userId}@example.test` }));
    const strict = {
      onFailure: (at: string, error: Error) => {
        throw new Error(`seed ${at}: ${error.message}`);
      },
    };
    await dir.importUsers(seeder, users.map((input) => ({ input })), strict);
    const registrations = [
      ...directory.pairs.flatMap((p) => p.tokens.map((t) => ({ user: p.userId, deviceSerialNumber: p.device, tokenSerialNumber: t, tokenStatus: p.initial }))),
      ...directory.deletables.map((d) => ({ user: d.userId, deviceSerialNumber: d.device, tokenSerialNumber: d.token, pinSet: true })),
    ];
    await dir.importRegistrations(seeder, registrations.map((input) => ({ input })), strict);
  } finally {
    await store.close();
  }

  const deployment: Deployment = {
    engine,
    dataDir,
    ...(databaseUrl ? { databaseUrl } : {}),
    async start(o = {}) {
      const url = o.databaseUrl ?? databaseUrl;
      const server = await startServe(
        [
          '--data', dataDir, '--port', '0', '--public-url', PUBLIC_URL, '--log-level', 'warn',
          '--rate-per-key', '1000000000', '--rate-per-address', '1000000000',
          ...(url ? ['--database-url', url] : []),
          ...(o.args ?? []),
        ],
        30_000,
      );
      servers.push(server);
      if (server.bootstrapKeyFile) {
        deployment.keyFile = server.bootstrapKeyFile;
        deployment.subject = readKeyFile(server.bootstrapKeyFile).accessID;
      }
      return server;
    },
    async token() {
      assert.ok(deployment.keyFile, 'a server printed the bootstrap key file');
      return tokenFromKeyFile(deployment.keyFile, PUBLIC_URL);
    },
    async trail() {
      if (fresh) {
        reader ??= await openPostgresStore({ url: fresh.url, schema: fresh.schema, poolSize: 1 });
        return reader.audit();
      }
      const db = new Database(join(dataDir, SQLITE_FILE), { readonly: true, fileMustExist: true });
      try {
        return (db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_events ORDER BY seq`).raw().all() as unknown[][]).map(toAuditEvent);
      } finally {
        db.close();
      }
    },
    async dispose() {
      for (const s of servers) await stopServe(s);
      await reader?.close().catch(() => {});
      await fresh?.dispose();
      temp?.dispose();
    },
  };
  return deployment;
}

// ---- a PostgreSQL cluster of a test's own ----

/** A PostgreSQL cluster in a temporary folder, on a free loopback port, that its test may stop and start. */
export interface PrivateCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  /**
   * `pg_ctl stop`: fast ends every connection (FATAL 57P01) and checkpoints; immediate ends them
   * without either, and the next start recovers from the WAL, as after a crash.
   */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/** PostgreSQL refuses to run as root: as root, the cluster runs as this user. */
const CLUSTER_USER = 'postgres';

/** PATH, then the newest server of Debian's layout (where initdb and pg_ctl are not on PATH). */
function pgBinary(name: string): string | undefined {
  const debian = '/usr/lib/postgresql';
  const versions = existsSync(debian) ? readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...versions.map((v) => join(debian, v, 'bin'))]) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** The uid and gid of `user`, or undefined when there is no such user. */
function idsOf(user: string): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, user], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

const asRoot = process.getuid?.() === 0;

/** Why no private cluster can be made on this machine (null when one can). */
export function privateClusterUnavailable(): string | null {
  const missing = ['initdb', 'pg_ctl'].filter((b) => !pgBinary(b));
  if (missing.length > 0) return `a private PostgreSQL cluster needs ${missing.join(' and ')} (on PATH or in /usr/lib/postgresql/*/bin)`;
  if (asRoot && !idsOf(CLUSTER_USER)) return `as root, a private PostgreSQL cluster needs a "${CLUSTER_USER}" user to run as`;
  return null;
}

/** A free loopback port (free when asked: the cluster takes it at once). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

const run = promisify(execFile);

/**
 * initdb and start a cluster of this test's own, never the machine's shared one: the test may stop
 * and restart it at will. Durability against a process crash needs no fsync (the kernel keeps
 * what was written), so fsync is off, to spare a shared machine.
 */
export async function startPrivateCluster(): Promise<PrivateCluster> {
  const why = privateClusterUnavailable();
  if (why) throw new Error(why);
  const home = mkdtempSync(join(tmpdir(), 'ds100-pgcluster-'));
  const data = join(home, 'data');
  const ids = asRoot ? idsOf(CLUSTER_USER)! : undefined;
  if (ids) chownSync(home, ids.uid, ids.gid);
  const pg = (bin: string, args: string[]) =>
    ids ? run('runuser', ['-u', CLUSTER_USER, '--', pgBinary(bin)!, ...args], { cwd: home }) : run(pgBinary(bin)!, args, { cwd: home });
  const port = await freePort();
  const cluster: PrivateCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await pg('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', join(home, 'log'), '-o',
        `-p ${port} -c listen_addresses=127.0.0.1 -k ${home} -c fsync=off -c max_connections=60 -c shared_buffers=16MB`]);
    },
    async stop(mode) {
      await pg('pg_ctl', ['stop', '-w', '-t', '60', '-m', mode, '-D', data]);
    },
    async dispose() {
      await cluster.stop('immediate').catch(() => {}); // (already stopped, or never started)
      rmSync(home, { recursive: true, force: true });
    },
  };
  try {
    await pg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    await cluster.start();
  } catch (error) {
    await cluster.dispose();
    throw error;
  }
  return cluster;
}

// ---- HTTP ----

export interface Answer {
  status: number;
  text: string;
  json: unknown;
  requestId: string | null;
}

/** An API call with a bound; a connection failure or a timeout is returned, not thrown. */
export async function call(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = REQUEST_BOUND_MS,
): Promise<Answer | { error: string; timedOut: boolean }> {
  try {
    return await callApi(url, token, method, path, body, { timeoutMs });
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
    return { error: `${e.name}: ${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}`, timedOut };
  }
}

/** GET of a path outside the API (health checks), bounded. */
export async function get(url: string, path: string, timeoutMs = REQUEST_BOUND_MS): Promise<{ status: number; text: string } | { error: string; timedOut: boolean }> {
  try {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, text: await res.text() };
  } catch (error) {
    const e = error as Error;
    return { error: `${e.name}: ${e.message}`, timedOut: e.name === 'TimeoutError' || e.name === 'AbortError' };
  }
}

export const toggle = (pair: Pair, status: TokenStatus) => ({
  method: 'PATCH',
  path: status === 'Enabled' ? '/v1/ds100/enable/otp' : '/v1/ds100/disable/otp',
  operation: status === 'Enabled' ? 'ds100.enable' : 'ds100.disable',
  body: { deviceSerialNumber: pair.device, userId: pair.userId },
});

export const targetOf = (operation: string): TokenStatus => (operation === 'ds100.enable' ? 'Enabled' : 'Disabled');

/** The stored credentials of each pair, read through a server's lookup. */
export async function lookupPairs(url: string, token: string, pairs: Pair[]): Promise<Map<string, StatusItem[]>> {
  const out = new Map<string, StatusItem[]>();
  for (const p of pairs) {
    const r = await call(url, token, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: p.device });
    assert.ok('status' in r && r.status === 200, `lookup of ${p.device}: ${JSON.stringify(r)}`);
    out.set(p.key, (r.json as StatusItem[]).filter((c) => c.userId === p.userId).sort((a, b) => a.tokenSerialNumber.localeCompare(b.tokenSerialNumber)));
  }
  return out;
}

// ---- holding a request log against the trail and the store ----


/** A pair's state as the trail makes it: status, and who changed it when (null before any change). */
export interface PairState {
  status: TokenStatus;
  changedAt: string | null;
  changedBy: string | null;
}

/** The enable and disable events of `subject` on `pair` that committed (status 200), in commit order. */
export function pairEvents(trail: StoredAuditEvent[], pair: Pair, subject: string): StoredAuditEvent[] {
  return trail.filter(
    (e) =>
      e.subject === subject &&
      e.status === 200 &&
      (e.operation === 'ds100.enable' || e.operation === 'ds100.disable') &&
      e.target.userId === pair.userId &&
      e.target.deviceSerialNumber === pair.device,
  );
}

/**
 * Replays a pair's committed events from its seeded state. Each event must say `changed` exactly
 * when it is a real transition (so there is one `changed` event per transition, and the last
 * one names the final state). `after` gets the state each event left, for the caller to hold
 * the event's answer against. Returns the final state and the number of transitions.
 */
export function replayPair(
  pair: Pair,
  events: StoredAuditEvent[],
  after?: (event: StoredAuditEvent, state: PairState) => void,
): { state: PairState; transitions: number } {
  let state: PairState = { status: pair.initial, changedAt: null, changedBy: null };
  let transitions = 0;
  for (const e of events) {
    const target = targetOf(e.operation);
    const real = state.status !== target;
    assert.equal(e.outcome, real ? 'changed' : 'unchanged', `${pair.key}: event seq ${e.seq} (${e.operation}, request ${e.requestId}) on ${state.status}`);
    if (real) {
      transitions++;
      state = { status: target, changedAt: e.at, changedBy: e.subject };
    }
    after?.(e, state);
  }
  return { state, transitions };
}

/** The status items that enable/disable (or lookup) must show for `pair` in `state`. */
export function expectedItems(pair: Pair, state: PairState): StatusItem[] {
  return pair.tokens.map((t) => ({
    userId: pair.userId,
    tokenSerialNumber: t,
    tokenStatus: state.status,
    tokenStatusChangedAt: state.changedAt,
    tokenStatusChangedBy: state.changedBy,
    deviceSerialNumber: pair.device,
  }));
}

/** The status item fields of credentials (a lookup answers more). */
export const statusItems = (items: StatusItem[]): StatusItem[] => items.map(toStatusItem);

/** One request of a client that alone changes its resources, as the client saw it end. */
export interface OwnedOp {
  resource: string;
  operation: string;
  /**
   * acked: a 200, the change is promised. ambiguous: a 500 or no answer at all (the server was
   * killed or the database went away mid-request): it may or may not have committed.
   */
  outcome: 'acked' | 'ambiguous';
  /** From X-Request-Id; null when no answer came. */
  requestId: string | null;
  json?: unknown;
}

/**
 * Matches the committed events on one resource against the requests its only client sent, in
 * order: every acknowledged request must have its event, in the order sent; an ambiguous one may
 * have one (matched by request id when it got an answer, else by position: an event no answered
 * request owns); no event may be left over. Returns the requests that committed, with their events.
 */
export function matchOwned(resource: string, ops: OwnedOp[], events: StoredAuditEvent[]): Array<{ op: OwnedOp; event: StoredAuditEvent }> {
  const answered = new Set(ops.map((o) => o.requestId).filter((id): id is string => id !== null));
  const committed: Array<{ op: OwnedOp; event: StoredAuditEvent }> = [];
  let i = 0;
  for (const op of ops) {
    const e = events[i];
    if (op.outcome === 'acked') {
      assert.ok(
        e && e.requestId === op.requestId,
        `${resource}: the acknowledged ${op.operation} (request ${op.requestId}) is not in the trail where it belongs; found ${e ? `${e.operation} ${e.requestId}` : 'nothing'}`,
      );
      assert.equal(e.operation, op.operation, `${resource}: request ${op.requestId}`);
      committed.push({ op, event: e });
      i++;
    } else if (e && e.operation === op.operation && (op.requestId !== null ? e.requestId === op.requestId : !answered.has(e.requestId ?? ''))) {
      committed.push({ op, event: e });
      i++;
    }
  }
  assert.equal(i, events.length, `${resource}: events no request of its client accounts for: ${JSON.stringify(events.slice(i))}`);
  return committed;
}

/** Index of the last acknowledged request, -1 when none was. */
export function lastAcked(ops: OwnedOp[]): number {
  for (let i = ops.length - 1; i >= 0; i--) if (ops[i]!.outcome === 'acked') return i;
  return -1;
}

/** Runs `worker(0..n-1)` at once and waits for all. */
export async function all<T>(n: number, worker: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => worker(i)));
}
