/**
 * Faults under load (issue 6, suite 5), against the real server process:
 *
 * - PostgreSQL (TEST_STORE=postgres): the database becomes unreachable mid-load, played with a
 *   TCP proxy between the server and the machine's PostgreSQL (never stopped): connections reset
 *   (refused), then hanging (a blackhole), then back. Meanwhile every API answer is a 200 or the
 *   exact generic 500 body, `/readyz` says 503 (or 200), `/healthz` keeps answering 200, and no
 *   request hangs (each has a bound far above --db-timeout: only a hang reaches it). Afterwards
 *   the server recovers by itself, without a restart.
 * - PostgreSQL: the server's connections are ended by PostgreSQL itself, every 0.5 s
 *   (pg_terminate_backend, as a failover, a pooler restart or an administrator does: a FATAL
 *   57P01 on each), under load, on one server and on two servers sharing the schema: answers are
 *   200s and the generic 500, every server stays up throughout and serves 200s afterwards.
 * - PostgreSQL: the database restarts (fast, then immediate shutdowns, which end every connection
 *   and refuse new ones until it is back), on a private cluster the test creates with initdb on
 *   a free port (never the machine's); skipped, saying why, where initdb or pg_ctl is missing.
 * - SQLite (TEST_STORE=sqlite): the disk fills up (the data folder on a 16 MiB tmpfs, filled by a
 *   file; where mounting is not allowed, or with RELIABILITY_DISK_FULL=fsize, RLIMIT_FSIZE set on
 *   the running server with prlimit instead, which SQLite meets as a full disk): writes
 *   answer the generic 500, reads keep answering 200, the process stays up; once space is freed,
 *   writes succeed again by themselves.
 *
 * In all: nothing acknowledged is lost. Each client alone changes its DS100, so its requests
 * on it are sequential: a 200 is a promise, a 500 may or may not have committed (a COMMIT whose
 * answer was cut off). The trail must hold every 200's event in the order sent, the stored state
 * must be the one the trail's last `changed` event names, and on SQLite a 500 never committed.
 * Every answered request also has its audit event once the fault is over (those of reads and
 * failures are written late, by design); on SQLite the final state also survives a SIGKILL and
 * restart. The regression cases at the end pin the PostgreSQL store fixes these suites led to.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import type { AuditEvent, StoredAuditEvent } from '../../src/domain/types.ts';
import { SQLITE_FILE } from '../../src/store/open.ts';
import { connectionUrl, openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.ts';
import type { ServeProcess } from '../support/serve-process.ts';
import { TEST_DATABASE_URL, freshSchema } from '../support/stores.ts';
import { auditEvent, eventually, startTcpProxy, type ProxyMode, type TcpProxy } from '../support/scale-out.ts';
import {
  ENGINE, INTERNAL_BODY, SEED, STRESS, all, call, deploy, expectedItems, get, lastAcked, makeDirectory, matchOwned, pairEvents,
  privateClusterUnavailable, prng, replayPair, sleep, startPrivateCluster, statusItems, targetOf, toggle, type Deployment, type OwnedOp, type Pair,
} from '../support/reliability.ts';
import type { StatusItem } from '../../src/domain/credentials.ts';

const CLIENTS = 4;
/** --db-timeout of the PostgreSQL server. */
const DB_TIMEOUT_MS = 1000;
/** Bound on one request during a fault: the store's own bounds are a few --db-timeout; past this it hangs. */
const HANG_BOUND_MS = DB_TIMEOUT_MS + 14_000;
const CYCLES = STRESS ? 12 : 1;

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** The load of the fault suites: each client toggles its own DS100 and reads it back. */
interface Load {
  ops: Map<string, OwnedOp[]>;
  /** Every answer: request id, status, what it was. */
  answers: Array<{ requestId: string; status: number; write: boolean }>;
  failures: string[];
  counts: { writes: number; acked: number; failed: number; reads: number; readFailed: number };
  stop(): Promise<void>;
}

/** `url(c)`: the server client `c` talks to. */
function startLoad(pairs: Pair[], url: (client: number) => string, token: string, readsMayFail: boolean): Load {
  let stopped = false;
  const ops = new Map<string, OwnedOp[]>(pairs.map((p) => [p.key, []]));
  const load: Omit<Load, 'stop'> = { ops, answers: [], failures: [], counts: { writes: 0, acked: 0, failed: 0, reads: 0, readFailed: 0 } };
  const running = all(pairs.length, async (c) => {
    const pair = pairs[c]!;
    const mine = ops.get(pair.key)!;
    const random = prng(SEED + 7919 * (c + 1));
    while (!stopped) {
      if (random() < 0.7) {
        const op = toggle(pair, random() < 0.5 ? 'Enabled' : 'Disabled');
        load.counts.writes++;
        const r = await call(url(c), token, op.method, op.path, op.body, HANG_BOUND_MS);
        if ('error' in r) return void load.failures.push(`${pair.key} ${op.operation}: ${r.timedOut ? 'no answer in time (a hang)' : r.error}`);
        if (!r.requestId) return void load.failures.push(`${pair.key}: an answer without X-Request-Id`);
        load.answers.push({ requestId: r.requestId, status: r.status, write: true });
        if (r.status === 200) {
          load.counts.acked++;
          mine.push({ resource: pair.key, operation: op.operation, outcome: 'acked', requestId: r.requestId, json: r.json });
        } else if (r.status === 500 && r.text === INTERNAL_BODY) {
          load.counts.failed++;
          mine.push({ resource: pair.key, operation: op.operation, outcome: 'ambiguous', requestId: r.requestId });
        } else {
          return void load.failures.push(`${pair.key} ${op.operation}: ${r.status} ${r.text}`);
        }
      } else {
        load.counts.reads++;
        const r = await call(url(c), token, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: pair.device }, HANG_BOUND_MS);
        if ('error' in r) return void load.failures.push(`${pair.key} lookup: ${r.timedOut ? 'no answer in time (a hang)' : r.error}`);
        if (!r.requestId) return void load.failures.push(`${pair.key}: an answer without X-Request-Id`);
        load.answers.push({ requestId: r.requestId, status: r.status, write: false });
        if (r.status === 500 && readsMayFail && r.text === INTERNAL_BODY) {
          load.counts.readFailed++;
          continue;
        }
        if (r.status !== 200) return void load.failures.push(`${pair.key} lookup: ${r.status} ${r.text}`);
        // The read shows the last acknowledged state, or that of a failed write after it.
        const items = (r.json as StatusItem[]).filter((x) => x.userId === pair.userId);
        const acked = lastAcked(mine);
        const allowed = new Set([acked >= 0 ? targetOf(mine[acked]!.operation) : pair.initial]);
        for (const o of mine.slice(acked + 1)) allowed.add(targetOf(o.operation));
        if (!items.every((x) => allowed.has(x.tokenStatus))) {
          return void load.failures.push(`${pair.key} lookup: read ${items.map((x) => x.tokenStatus).join(',')}, acknowledged or failed: ${[...allowed].join(',')}`);
        }
      }
    }
  });
  return {
    ...load,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/**
 * Waits until every answered request has its audit event: for each answer, one event with its
 * request id and status (a failure's event, and a read's, are written after the answer, and late
 * when the database was away). Returns the trail, and the 500s whose change committed anyway.
 */
async function auditComplete(
  d: Deployment,
  load: Load,
  bound: { attempts: number; everyMs: number },
  serverLog: () => string,
): Promise<{ trail: StoredAuditEvent[]; committed500: number; waitedMs: number }> {
  const started = Date.now();
  let missing: string[] = [];
  let trail: StoredAuditEvent[] = [];
  const complete = await eventually(
    async () => {
      trail = await d.trail();
      const byRequest = new Map<string, StoredAuditEvent[]>();
      for (const e of trail) if (e.requestId) (byRequest.get(e.requestId) ?? byRequest.set(e.requestId, []).get(e.requestId)!).push(e);
      missing = load.answers
        .filter((a) => (byRequest.get(a.requestId) ?? []).filter((e) => e.status === a.status).length !== 1)
        .map((a) => `${a.requestId} (${a.write ? 'write' : 'read'} ${a.status}; events: ${JSON.stringify(byRequest.get(a.requestId) ?? [])})`);
      return missing.length === 0;
    },
    bound.attempts,
    bound.everyMs,
  );
  assert.ok(
    complete,
    `every answered request has one audit event of its status; missing: ${missing.slice(0, 10).join(', ')} (${missing.length} of ${load.answers.length}); ` +
      `the server said: ${serverLog().split('\n').filter((l) => /audit/i.test(l)).slice(-10).join('\n')}`,
  );
  const statusOf = new Map(load.answers.map((a) => [a.requestId, a.status]));
  const committed500 = trail.filter((e) => e.status === 200 && statusOf.get(e.requestId ?? '') === 500).length;
  return { trail, committed500, waitedMs: Date.now() - started };
}

/** The trail and the store against what the clients were told. */
async function verifyNothingLost(d: Deployment, server: ServeProcess, token: string, pairs: Pair[], load: Load, trail: StoredAuditEvent[], where: string): Promise<void> {
  for (const pair of pairs) {
    const ops = load.ops.get(pair.key)!;
    const events = pairEvents(trail, pair, d.subject!);
    const committed = matchOwned(pair.key, ops, events);
    if (d.engine === 'sqlite') {
      // A failed SQLite COMMIT is rolled back: a 500 there never changed anything.
      assert.deepEqual(committed.filter((m) => m.op.outcome === 'ambiguous').map((m) => m.event), [], `${where}: ${pair.key}: a 500 that committed`);
    }
    const opOf = new Map(committed.map((m) => [m.event, m.op]));
    const { state } = replayPair(pair, events, (e, st) => {
      const op = opOf.get(e)!;
      if (op.outcome === 'acked') assert.deepEqual(op.json, expectedItems(pair, st), `${where}: body of request ${e.requestId}`);
    });
    const r = await call(server.url, token, 'POST', '/v1/ds100/lookup', { deviceSerialNumber: pair.device });
    assert.ok('status' in r && r.status === 200, `${where}: lookup ${pair.device}: ${JSON.stringify(r)}`);
    const stored = statusItems((r.json as StatusItem[]).filter((x) => x.userId === pair.userId).sort((a, b) => a.tokenSerialNumber.localeCompare(b.tokenSerialNumber)));
    assert.deepEqual(stored, expectedItems(pair, state), `${where}: ${pair.key} holds the state of its last changed event`);
    const acked = lastAcked(ops);
    const allowed = new Set([acked >= 0 ? targetOf(ops[acked]!.operation) : pair.initial]);
    for (const o of ops.slice(acked + 1)) allowed.add(targetOf(o.operation));
    assert.ok(allowed.has(state.status), `${where}: ${pair.key} is ${state.status}; acknowledged or failed after: ${[...allowed].join(', ')}`);
  }
}

/** Waits (bounded) until a write is acknowledged after `since` acknowledgements. */
async function writesSucceedAgain(load: Load, since: number, what: string): Promise<void> {
  assert.ok(await eventually(async () => load.counts.acked > since, 120, 250), `${what}: writes are acknowledged again, without a restart`);
}

test('PostgreSQL unreachable mid-load (reset, then hanging), then back', { skip: ENGINE !== 'postgres' && 'PostgreSQL only (TEST_STORE=postgres)' }, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const directory = makeDirectory(CLIENTS);
  const d = await deploy('postgres', directory);
  cleanups.push(() => d.dispose());
  const target = new URL(d.databaseUrl!);
  const proxy: TcpProxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  cleanups.push(async () => {
    proxy.setMode('forward');
    await proxy.close();
  });
  const viaProxy = new URL(d.databaseUrl!);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const server = await d.start({ databaseUrl: viaProxy.toString(), args: ['--db-timeout', String(DB_TIMEOUT_MS), '--db-pool-size', '4'] });
  const token = await d.token();
  const load = startLoad(directory.pairs, () => server.url, token, true);

  // Health checks all along: /healthz needs no database, /readyz says whether it is reachable.
  const probes = { ready: 0, unready: 0, healthy: 0, problems: [] as string[] };
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const [ready, health] = await Promise.all([get(server.url, '/readyz', HANG_BOUND_MS), get(server.url, '/healthz', HANG_BOUND_MS)]);
      if ('error' in ready) probes.problems.push(`/readyz: ${ready.error}`);
      else if (ready.status === 200 && ready.text === '{"status":"ready","store":"postgres"}') probes.ready++;
      else if (ready.status === 503 && ready.text === '{"status":"unavailable","store":"postgres"}') probes.unready++;
      else probes.problems.push(`/readyz: ${ready.status} ${ready.text}`);
      if ('error' in health || health.status !== 200) probes.problems.push(`/healthz: ${JSON.stringify(health)}`);
      else probes.healthy++;
      await sleep(100);
    }
  })();

  const random = prng(SEED);
  const faults: string[] = [];
  try {
    await writesSucceedAgain(load, 0, 'before any fault');
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      for (const mode of (STRESS && random() < 0.5 ? ['blackhole', 'reset'] : ['reset', 'blackhole']) as ProxyMode[]) {
        const failedBefore = load.counts.failed;
        const unreadyBefore = probes.unready;
        proxy.setMode(mode);
        faults.push(mode);
        // Long enough for requests to meet the fault: until a write and /readyz have failed, and a while more.
        assert.ok(await eventually(async () => load.counts.failed > failedBefore && probes.unready > unreadyBefore, 120, 100), `${mode}: the fault is felt`);
        await sleep(200 + Math.floor(random() * (STRESS ? 2500 : 800)));
        const acked = load.counts.acked;
        proxy.setMode('forward');
        assert.ok(await eventually(async () => {
          const r = await get(server.url, '/readyz', HANG_BOUND_MS);
          return 'status' in r && r.status === 200;
        }, 120, 250), `after ${mode}: /readyz is 200 again without a restart`);
        await writesSucceedAgain(load, acked, `after ${mode}`);
        assert.deepEqual(load.failures, [], `during ${mode}: only 200s and the generic 500, no hang`);
      }
    }
  } finally {
    await load.stop();
    probing = false;
    await prober;
    proxy.setMode('forward');
  }
  assert.deepEqual(load.failures, [], 'only 200s and the generic 500, no hang');
  assert.deepEqual(probes.problems, [], '/readyz 200 or 503, /healthz 200, never a hang');
  assert.equal(server.child.exitCode, null, `the server is still running: ${server.stderr()}`);

  const { trail, committed500, waitedMs } = await auditComplete(d, load, { attempts: 240, everyMs: 250 }, () => server.lines.join('\n') + server.stderr());
  await verifyNothingLost(d, server, token, directory.pairs, load, trail, 'after the outages');
  assert.doesNotMatch(server.stderr(), /uncaught|unhandled/i);
  const { counts } = load;
  t.diagnostic(
    `${faults.length} faults (${faults.join(', ')}); ${counts.writes} writes: ${counts.acked} acknowledged (all found), ${counts.failed} generic 500s ` +
      `(${committed500} of them committed); ${counts.reads} reads (${counts.readFailed} 500s); /readyz ${probes.ready} ready, ${probes.unready} unavailable; ` +
      `audit trail complete ${waitedMs} ms after the load stopped; 0 lost`,
  );
});

// ---- PostgreSQL ends the server's connections (pg_terminate_backend) ----

/** Clients of the termination fault (24 is where the first report saw both instances die within seconds). */
const TERMINATE_CLIENTS = STRESS ? 24 : 12;
/** How often the fault ends every connection of the servers, as a failover or an administrator would. */
const TERMINATE_EVERY_MS = 500;

/** A plain connection to the test database, outside every deployment, for pg_terminate_backend. */
async function adminClient(): Promise<pg.Client> {
  const admin = new pg.Client({ connectionString: connectionUrl(TEST_DATABASE_URL, undefined) });
  admin.on('error', () => {});
  await admin.connect();
  cleanups.push(() => admin.end().catch(() => {}));
  return admin;
}

/**
 * `url` with an application name of its own: the fault ends the connections of this test's
 * servers only, never those of the suites running beside it on the same database.
 */
function namedUrl(url: string, tag: string): { url: string; applicationName: string } {
  const applicationName = `ds100-rel-${tag}-${process.pid}`;
  const u = new URL(url);
  u.searchParams.set('application_name', applicationName);
  return { url: u.toString(), applicationName };
}

/** Ends every connection named `applicationName`; resolves to how many there were. */
async function terminateBackends(admin: pg.Client, applicationName: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
    [applicationName],
  );
  return Number(rows[0]!.n);
}

/** Fails unless every server is still running. */
function assertUp(servers: ServeProcess[], what: string): void {
  for (const [i, s] of servers.entries()) assert.equal(s.child.exitCode ?? s.child.signalCode, null, `${what}: server ${i} is still running: ${s.stderr()}`);
}

/**
 * After a fault on the servers of `d`: nothing but 200s and the generic 500, no crash, every
 * answer audited, and nothing acknowledged lost, as each server reads it.
 */
async function verifyServersAfter(d: Deployment, servers: ServeProcess[], token: string, pairs: Pair[], load: Load, where: string) {
  assertUp(servers, `${where}, after the load`);
  assert.deepEqual(load.failures, [], 'only 200s and the generic 500, no hang');
  for (const s of servers) assert.doesNotMatch(s.stderr(), /uncaught|unhandled/i);
  const serverLog = () => servers.map((s) => s.lines.join('\n') + s.stderr()).join('\n');
  const audited = await auditComplete(d, load, { attempts: 240, everyMs: 250 }, serverLog);
  for (const [i, s] of servers.entries()) await verifyNothingLost(d, s, token, pairs, load, audited.trail, `${where} (server ${i})`);
  assertUp(servers, `${where}, at the end`);
  return audited;
}

async function terminationFault(t: { diagnostic(message: string): void }, instances: number): Promise<void> {
  t.diagnostic(`seed ${SEED}`);
  const directory = makeDirectory(TERMINATE_CLIENTS);
  const d = await deploy('postgres', directory);
  cleanups.push(() => d.dispose());
  const { url, applicationName } = namedUrl(d.databaseUrl!, `term${instances}`);
  const servers: ServeProcess[] = [];
  for (let i = 0; i < instances; i++) {
    servers.push(await d.start({ databaseUrl: url, args: ['--db-timeout', String(DB_TIMEOUT_MS), '--db-pool-size', '4'] }));
  }
  const token = await d.token();
  const admin = await adminClient();
  const up = (what: string): void => assertUp(servers, what);
  const load = startLoad(directory.pairs, (c) => servers[c % instances]!.url, token, true);

  const random = prng(SEED);
  let terminated = 0;
  let rounds = 0;
  try {
    await writesSucceedAgain(load, 0, 'before any termination');
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const failedBefore = load.counts.failed;
      const minRounds = 4 + Math.floor(random() * (STRESS ? 12 : 4));
      // Until a write has met the fault (bounded), and at least `minRounds` times.
      for (let n = 0; n < minRounds || (load.counts.failed === failedBefore && n < 120); n++) {
        terminated += await terminateBackends(admin, applicationName);
        rounds++;
        await sleep(TERMINATE_EVERY_MS);
        up(`cycle ${cycle}, after ${n + 1} rounds of terminations`);
      }
      assert.ok(load.counts.failed > failedBefore, `cycle ${cycle}: a write met the terminations`);
      const acked = load.counts.acked;
      await writesSucceedAgain(load, acked, `after the terminations of cycle ${cycle}`);
      up(`after the terminations of cycle ${cycle}`);
      assert.deepEqual(load.failures, [], `cycle ${cycle}: only 200s and the generic 500, no hang`);
    }
  } finally {
    await load.stop();
  }
  const { committed500, waitedMs } = await verifyServersAfter(d, servers, token, directory.pairs, load, 'after the terminations');
  const { counts } = load;
  t.diagnostic(
    `${instances} server(s), ${TERMINATE_CLIENTS} clients; ${rounds} rounds of pg_terminate_backend ended ${terminated} connections; ` +
      `${counts.writes} writes: ${counts.acked} acknowledged (all found), ${counts.failed} generic 500s (${committed500} of them committed); ` +
      `${counts.reads} reads (${counts.readFailed} 500s); audit trail complete ${waitedMs} ms after the load stopped; 0 lost`,
  );
}

test('PostgreSQL ends the connections mid-load (pg_terminate_backend), one server', { skip: ENGINE !== 'postgres' && 'PostgreSQL only (TEST_STORE=postgres)' }, (t) =>
  terminationFault(t, 1),
);

test('PostgreSQL ends the connections mid-load (pg_terminate_backend), two servers on one schema', { skip: ENGINE !== 'postgres' && 'PostgreSQL only (TEST_STORE=postgres)' }, (t) =>
  terminationFault(t, 2),
);

/** Restarts of the private cluster: fast and immediate shutdowns, in turn. */
const RESTART_CYCLES = STRESS ? 6 : 1;
const noPrivateCluster = ENGINE !== 'postgres' ? 'PostgreSQL only (TEST_STORE=postgres)' : privateClusterUnavailable();

test('PostgreSQL restarts mid-load (a private cluster), two servers on one schema', { skip: noPrivateCluster ?? false }, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const cluster = await startPrivateCluster();
  cleanups.push(() => cluster.dispose());
  const directory = makeDirectory(TERMINATE_CLIENTS);
  const d = await deploy('postgres', directory, { postgresUrl: cluster.url });
  cleanups.push(() => d.dispose());
  const servers: ServeProcess[] = [];
  for (let i = 0; i < 2; i++) servers.push(await d.start({ args: ['--db-timeout', String(DB_TIMEOUT_MS), '--db-pool-size', '4'] }));
  const token = await d.token();
  const up = (what: string): void => assertUp(servers, what);
  const load = startLoad(directory.pairs, (c) => servers[c % servers.length]!.url, token, true);

  const random = prng(SEED);
  const restarts: string[] = [];
  try {
    await writesSucceedAgain(load, 0, 'before any restart');
    for (let cycle = 0; cycle < RESTART_CYCLES; cycle++) {
      const mode = cycle % 2 === 0 ? 'fast' : 'immediate';
      const failedBefore = load.counts.failed;
      await cluster.stop(mode);
      restarts.push(mode);
      assert.ok(await eventually(async () => load.counts.failed > failedBefore, 120, 100), `${mode} shutdown: a write met it`);
      await sleep(200 + Math.floor(random() * (STRESS ? 2500 : 800)));
      up(`while PostgreSQL is down (${mode})`);
      const acked = load.counts.acked;
      await cluster.start();
      await writesSucceedAgain(load, acked, `after the ${mode} restart`);
      up(`after the ${mode} restart`);
      assert.deepEqual(load.failures, [], `${mode} restart: only 200s and the generic 500, no hang`);
    }
  } finally {
    await load.stop();
  }
  const { committed500, waitedMs } = await verifyServersAfter(d, servers, token, directory.pairs, load, 'after the restarts');
  const { counts } = load;
  t.diagnostic(
    `2 servers, ${TERMINATE_CLIENTS} clients; ${restarts.length} restarts (${restarts.join(', ')}); ` +
      `${counts.writes} writes: ${counts.acked} acknowledged (all found), ${counts.failed} generic 500s (${committed500} of them committed); ` +
      `${counts.reads} reads (${counts.readFailed} 500s); audit trail complete ${waitedMs} ms after the load stopped; 0 lost`,
  );
});

/** Fills the data folder's disk, and frees it: a small tmpfs when mounting is allowed, else RLIMIT_FSIZE on the server. */
interface DiskFull {
  how: string;
  dataDir: string;
  attach(server: ServeProcess): void;
  fill(): void;
  free(): void;
  /** The data folder's files and their sizes, for failure messages. */
  describe(): string;
}

function filesOf(dir: string): string {
  return readdirSync(dir).map((f) => `${f} ${statSync(join(dir, f)).size}`).join(', ');
}

/**
 * Room for the database and its WAL at their high-water mark (wal_autocheckpoint: 1000 pages,
 * about 4 MB) and little more. A 4 MiB tmpfs is smaller than that: the WAL alone fills it short
 * of its checkpoint, and writes could never resume, whatever the server did.
 */
const TMPFS_SIZE = '16m';

function diskFull(): DiskFull {
  const mount = mkdtempSync(join(tmpdir(), 'ds100-diskfull-'));
  const forced = process.env.RELIABILITY_DISK_FULL;
  let mounted = false;
  if (forced !== 'fsize') {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', mount], { stdio: 'pipe' });
      mounted = true;
    } catch (error) {
      if (forced === 'tmpfs') throw error;
    }
  }
  cleanups.push(() => {
    if (mounted) execFileSync('umount', [mount], { stdio: 'pipe' });
    rmSync(mount, { recursive: true, force: true });
  });
  const dataDir = join(mount, 'data');
  if (mounted) {
    const filler = join(mount, 'filler');
    return {
      how: `a ${TMPFS_SIZE} tmpfs, filled`,
      dataDir,
      attach() {},
      fill() {
        const fd = openSync(filler, 'w');
        try {
          for (const size of [65536, 4096, 512]) {
            const chunk = Buffer.alloc(size, 0x5a);
            for (let i = 0; i < 1024; i++) {
              try {
                writeSync(fd, chunk);
              } catch (error) {
                if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
                break;
              }
            }
          }
        } finally {
          closeSync(fd);
        }
      },
      free() {
        unlinkSync(filler);
      },
      describe: () => `${filesOf(dataDir)}; ${statfsSync(mount).bavail * statfsSync(mount).bsize} bytes free`,
    };
  }
  // No mount allowed: the server's files may not grow past their size (EFBIG), as good as a full disk to SQLite.
  let pid = 0;
  return {
    how: `${forced === 'fsize' ? 'RELIABILITY_DISK_FULL=fsize' : 'mount not permitted'}: RLIMIT_FSIZE on the server (prlimit)`,
    dataDir,
    attach(server) {
      pid = server.child.pid!;
    },
    fill() {
      const wal = join(dataDir, `${SQLITE_FILE}-wal`);
      const size = Math.max(statSync(wal, { throwIfNoEntry: false })?.size ?? 0, 1);
      execFileSync('prlimit', ['--pid', String(pid), `--fsize=${size}:`], { stdio: 'pipe' });
    },
    free() {
      execFileSync('prlimit', ['--pid', String(pid), '--fsize=unlimited:'], { stdio: 'pipe' });
    },
    describe: () => filesOf(dataDir),
  };
}

test('SQLite disk full mid-load, then freed', { skip: ENGINE !== 'sqlite' && 'SQLite only (TEST_STORE=sqlite)' }, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const disk = diskFull();
  t.diagnostic(`disk full: ${disk.how}`);
  const directory = makeDirectory(CLIENTS);
  const d = await deploy('sqlite', directory, { dataDir: disk.dataDir });
  cleanups.push(() => d.dispose());
  let server = await d.start();
  disk.attach(server);
  const token = await d.token();
  const load = startLoad(directory.pairs, () => server.url, token, false);
  const random = prng(SEED);
  let fills = 0;
  try {
    await writesSucceedAgain(load, 0, 'before the disk fills');
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const failedBefore = load.counts.failed;
      disk.fill();
      fills++;
      // (Writes that fit in the WAL file as it is still succeed: SQLite reuses it after a checkpoint.)
      assert.ok(await eventually(async () => load.counts.failed > failedBefore, 300, 100), 'writes fail once the disk is full');
      const readsBefore = load.counts.reads;
      await sleep(200 + Math.floor(random() * (STRESS ? 1500 : 500)));
      assert.ok(load.counts.reads > readsBefore, 'reads go on while the disk is full');
      assert.deepEqual(load.failures, [], 'disk full: writes 200 or the generic 500, reads 200');
      const acked = load.counts.acked;
      disk.free();
      await writesSucceedAgain(load, acked, `space freed (cycle ${cycle}; ${disk.describe()})`);
      await sleep(100 + Math.floor(random() * 300));
    }
  } finally {
    await load.stop();
  }
  assert.deepEqual(load.failures, [], 'writes 200 or the generic 500, reads 200, no hang');
  assert.equal(server.child.exitCode, null, `the server is still running: ${server.stderr()}`);
  assert.doesNotMatch(server.stderr(), /uncaught|unhandled/i);

  const { trail } = await auditComplete(d, load, { attempts: 120, everyMs: 250 }, () => server.lines.join('\n') + server.stderr());
  await verifyNothingLost(d, server, token, directory.pairs, load, trail, 'after the disk was freed');

  // And on disk: what was acknowledged is there after a SIGKILL and a restart.
  server.child.kill('SIGKILL');
  await server.exited;
  server = await d.start();
  await verifyNothingLost(d, server, token, directory.pairs, load, await d.trail(), 'after SIGKILL and restart');
  const { counts } = load;
  t.diagnostic(
    `${fills} disk-full faults (${disk.how}); ${counts.writes} writes: ${counts.acked} acknowledged (all found), ${counts.failed} generic 500s (none committed); ` +
      `${counts.reads} reads, all 200; 0 lost`,
  );
});

// ---- Regressions of the PostgreSQL store's buffered audit writer, found by the outage suite ----

/** A store on a fresh schema, through a proxy the test controls, logging to `messages`; a plain client beside it. */
async function storeBehindProxy(timeoutMs: number): Promise<{
  store: PostgresStore;
  /** The store's connections have this application name, and no other connection has it. */
  applicationName: string;
  proxy: TcpProxy;
  direct: pg.Client;
  messages: string[];
  count(requestIdLike: string): Promise<number>;
}> {
  const fresh = await freshSchema('ds100_relaud');
  cleanups.push(() => fresh.dispose());
  const target = new URL(fresh.url);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  cleanups.push(async () => {
    proxy.setMode('forward');
    await proxy.close();
  });
  const viaProxy = new URL(fresh.url);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const messages: string[] = [];
  const log = { warn: (_: object, msg: string) => void messages.push(msg), error: (_: object, msg: string) => void messages.push(msg) };
  const applicationName = `ds100-rel-audit-${process.pid}-${fresh.schema.slice(-10)}`;
  const store = await openPostgresStore({ url: viaProxy.toString(), schema: fresh.schema, timeoutMs, poolSize: 2, applicationName, log });
  cleanups.push(() => store.close().catch(() => {}));
  const direct = new pg.Client({ connectionString: connectionUrl(fresh.url, fresh.schema) });
  direct.on('error', () => {});
  await direct.connect();
  cleanups.push(() => direct.end().catch(() => {}));
  return {
    store,
    applicationName,
    proxy,
    direct,
    messages,
    count: async (like) => Number((await direct.query('SELECT count(*) AS n FROM audit_events WHERE request_id LIKE $1', [like])).rows[0].n),
  };
}

const readEvent = (requestId: string): AuditEvent => auditEvent('ds100.lookup', { requestId, status: 200, outcome: 'unchanged' });

/** `promise`, or a failure after `ms`: a hang fails the test instead of stalling it. */
async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test('regression: an audit write whose answer was lost is retried and in the trail exactly once', { skip: ENGINE !== 'postgres' && 'PostgreSQL only (TEST_STORE=postgres)' }, async () => {
  // Found by the outage suite: a connection reset after PostgreSQL committed a batch of buffered
  // events, before its answer arrived; the retry wrote the batch a second time.
  const { store, applicationName, proxy, direct, messages, count } = await storeBehindProxy(5000);
  const watcher = new pg.Client({ connectionString: connectionUrl(TEST_DATABASE_URL, undefined) });
  watcher.on('error', () => {});
  await watcher.connect();
  cleanups.push(() => watcher.end().catch(() => {}));
  const insertWaitsOnLock = async () =>
    Number(
      (await watcher.query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [applicationName])).rows[0].n,
    ) > 0;

  // Hold the INSERT at the database (the table is locked) until its answer's way back is cut.
  // Since events are stamped under the sequencer (contract 11), the write is a transaction of its
  // own: with its answer lost, its COMMIT is never sent, and the retry must write it once.
  await direct.query('BEGIN');
  await direct.query('LOCK TABLE audit_events IN EXCLUSIVE MODE');
  store.recordAudit(readEvent('lost-answer-1'));
  assert.ok(await eventually(insertWaitsOnLock, 200, 25), 'the INSERT reaches the database and waits for the lock');
  proxy.setMode('blackhole');
  await direct.query('COMMIT');
  assert.ok(await eventually(async () => !(await insertWaitsOnLock()), 200, 25), 'the INSERT ran once the lock was released');
  assert.equal(await count('lost-answer-1'), 0, 'its transaction waits for a COMMIT that cannot arrive');
  proxy.setMode('forward');
  assert.ok(await eventually(async () => messages.some((m) => /could not be written/.test(m)), 200, 50), 'the writer saw its INSERT fail');
  await bounded(store.flush(), 20_000, 'flush');
  assert.equal(await count('lost-answer-1'), 1, 'the event is in the trail once');
});

test('regression: buffered audit events are written as soon as the database answers again', { skip: ENGINE !== 'postgres' && 'PostgreSQL only (TEST_STORE=postgres)' }, async () => {
  // Found by the long outage suite: after an outage the writer waited out its retry delay (up to
  // 30 s) while the database was back; under load the buffer overflowed and dropped events.
  const { store, proxy, count } = await storeBehindProxy(500);
  proxy.setMode('reset');
  store.recordAudit(readEvent('outage-0'));
  // A few failed attempts: the next retry is seconds away (0.5 s, 1 s, then 2 s).
  await sleep(1700);
  proxy.setMode('forward');
  // A request goes through: the database is back.
  assert.ok(
    await eventually(async () => {
      await store.transaction(async (tx) => tx.appendAudit(readEvent('back-1')));
      return true;
    }, 40, 100),
    'a transaction commits once the database is back',
  );
  await new Promise((r) => setImmediate(r));
  // More events than the buffer keeps: none may be dropped now that the database answers.
  const FLOOD = 10_500;
  for (let i = 0; i < FLOOD; i++) store.recordAudit(readEvent(`flood-${i}`));
  await bounded(store.flush(), 30_000, 'flush');
  assert.equal(await count('outage-0'), 1, 'the event of the outage');
  assert.equal(await count('flood-%'), FLOOD, 'every event recorded after the database came back');
});

/** PostgreSQL's ReadyForQuery (idle, not in a transaction): the last message of a connection's startup. */
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

test('regression: a connection ended as the pool hands it out to a transaction does not crash the process', { skip: ENGINE !== 'postgres' && 'PostgreSQL only (TEST_STORE=postgres)' }, async () => {
  // Found by the termination fault: a FATAL (57P01) read together with the ReadyForQuery that ends
  // a new connection's startup reached the client after pg-pool had dropped its own 'error'
  // listener and before the store attached one: an unhandled 'error' event, and the process died.
  // The proxy keeps the server's bytes until the backend is gone, so that both arrive in one read.
  // (Through `serve` a request's first connection is the key lookup's, which pg-pool guards itself.)
  const { store, applicationName, proxy, direct } = await storeBehindProxy(15_000);
  const admin = await adminClient();
  // The pool is empty (the migration had a connection of its own): the transaction opens one.
  proxy.setMode('hold');
  const outcome = store.transaction((tx) => tx.userById('nobody')).then(
    () => 'committed',
    (error: Error) => `failed: ${error.message}`,
  );
  assert.ok(await eventually(async () => proxy.held().some((h) => h.bytes.subarray(-6).equals(READY_FOR_QUERY)), 150, 100), 'a new connection reached ReadyForQuery');
  assert.equal(await terminateBackends(admin, applicationName), 1, 'its backend is ended');
  assert.ok(await eventually(async () => proxy.held().some((h) => h.serverClosed), 150, 100), 'the server sent its FATAL and closed the connection');
  proxy.setMode('forward');
  assert.match(await bounded(outcome, 20_000, 'the transaction'), /^failed: /, 'the transaction on the ended connection fails');

  // The pool discarded the dead connection: the next transaction commits on a new one.
  await bounded(store.transaction((tx) => tx.appendAudit(readEvent('after-termination'))), 20_000, 'a transaction after the fault');
  assert.equal(Number((await direct.query("SELECT count(*) AS n FROM audit_events WHERE request_id = 'after-termination'")).rows[0].n), 1);
  assert.deepEqual(store.stats().pool?.total, 1, 'one connection, the new one');
});
