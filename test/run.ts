/**
 * `npm test`: the whole suite on SQLite, then the store-independent suites again on PostgreSQL,
 * then the scale-out suites (PostgreSQL and Redis), without copying a test: the suites reach the
 * store through `startServer()` / `openTestStore()`, which read TEST_STORE.
 *
 *   npm test                          everything that the reachable services allow
 *   npm test -- test/contract/x.test.ts   only these files (on each store that applies)
 *   npm test -- test/interop            the test files under a folder
 *   npm run test:stress               STRESS=1: the long forms of the files it names, one at a time
 *
 * PostgreSQL is DATABASE_URL_TEST (default postgres://127.0.0.1:5432/test), Redis is
 * REDIS_URL_TEST (default redis://127.0.0.1:6379); `.ci/services.sh` starts both. On a machine
 * without them the SQLite run still happens and the suites left out are named plainly, at the
 * start and at the end. Under CI=true a missing service is a failure, never a skip.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/**
 * The suites that run once per engine: they reach the store through TEST_STORE, by the Store
 * interface or (test/reliability) by the server processes they start on that engine.
 */
const PER_STORE = ['test/contract', 'test/console', 'test/auth', 'test/http', 'test/oauth', 'test/reliability', 'test/domain/directory.test.ts', 'test/domain/credentials.test.ts', 'test/store/log-positions.test.ts'];
/** Suites that need PostgreSQL themselves (several stores, processes); some need Redis too. */
const SCALE_OUT = 'test/scale-out';
/** The scale-out suites that need Redis as well: the others run whenever PostgreSQL is reachable. */
const NEEDS_REDIS = ['test/scale-out/redis-limiter.test.ts', 'test/scale-out/multi-instance.test.ts'];

const root = join(import.meta.dirname, '..');
const ci = process.env.CI === 'true';
/** The long forms: one file at a time (they load the machine), each test with room for its length. */
const stress = process.env.STRESS === '1' || process.env.STRESS === 'true';
const pgUrl = process.env.DATABASE_URL_TEST || 'postgres://127.0.0.1:5432/test';
const redisUrl = process.env.REDIS_URL_TEST || 'redis://127.0.0.1:6379';

const under = (file: string, dir: string): boolean => file === dir || file.startsWith(`${dir}/`);

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = `${dir}/${name}`;
    if (statSync(join(root, path)).isDirectory()) out.push(...testFiles(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out.sort();
}

async function probePostgres(): Promise<string | null> {
  const { Client } = await import('pg');
  const { connectionUrl } = await import('../src/store/postgres/index.ts');
  const client = new Client({ connectionString: connectionUrl(pgUrl, undefined), connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

async function probeRedis(): Promise<string | null> {
  const { Redis } = await import('ioredis');
  const client = new Redis(redisUrl, { lazyConnect: true, retryStrategy: () => null, connectTimeout: 3000, maxRetriesPerRequest: 0 });
  let cause: Error | undefined;
  client.on('error', (error: Error) => (cause ??= error));
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (error) {
    return (cause ?? (error as Error)).message || String(error);
  } finally {
    client.disconnect();
  }
}

interface Counts {
  pass: number;
  fail: number;
  skipped: number;
  cancelled: number;
}

/** Runs node's test runner on `files`, echoing its output, and reads its closing counts. */
function runSuite(title: string, files: string[], env: Record<string, string>): Promise<{ code: number; counts: Counts }> {
  console.log(`\n=== ${title}: ${files.length} files ===\n`);
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${stress ? 1 : 2}`, `--test-timeout=${stress ? 3_600_000 : 600_000}`, '--test-reporter=tap', ...files],
      { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const counts: Counts = { pass: 0, fail: 0, skipped: 0, cancelled: 0 };
    let tail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-4096);
    });
    child.on('close', (code) => {
      // Top-level summary lines of the TAP reporter (`# pass 12`), at column 0.
      for (const m of tail.matchAll(/^# (pass|fail|skipped|cancelled) (\d+)$/gm)) counts[m[1] as keyof Counts] = Number(m[2]);
      resolve({ code: code ?? 1, counts });
    });
  });
}

// npm runs scripts from the package root; file arguments are relative to where it was called.
// A folder stands for the test files under it: node 20's runner takes files only, and would run none.
const args = process.argv
  .slice(2)
  .map((a) => relative(root, resolve(process.env.INIT_CWD ?? process.cwd(), a)))
  .flatMap((a) => (statSync(join(root, a), { throwIfNoEntry: false })?.isDirectory() ? testFiles(a) : [a]));
const all = args.length > 0 ? args : testFiles('test');
const sqliteFiles = all.filter((f) => !under(f, SCALE_OUT));
const postgresFiles = all.filter((f) => PER_STORE.some((d) => under(f, d)));
const scaleOutFiles = all.filter((f) => under(f, SCALE_OUT));

const [pgDown, redisDown] = await Promise.all([probePostgres(), probeRedis()]);
const skipped: string[] = [];
if (pgDown) {
  skipped.push(`the PostgreSQL run of ${PER_STORE.join(', ')} (PostgreSQL at ${pgUrl} is not reachable: ${pgDown})`);
}
if (pgDown) skipped.push(`${SCALE_OUT} (needs PostgreSQL at ${pgUrl}: ${pgDown})`);
else if (redisDown) skipped.push(`${NEEDS_REDIS.join(', ')} (need Redis at ${redisUrl}: ${redisDown})`);
if (skipped.length > 0) {
  const lines = skipped.map((s) => `  - ${s}`).join('\n');
  if (ci) {
    console.error(`\nCI=true and a service the suites need is missing; refusing to skip:\n${lines}\nStart them with: bash .ci/services.sh\n`);
    process.exit(1);
  }
  console.log(`\nSKIPPING (start the services with \`bash .ci/services.sh\` to run them):\n${lines}\n`);
}

const results: Array<{ title: string; code: number; counts: Counts }> = [];
if (sqliteFiles.length > 0) results.push({ title: 'SQLite', ...(await runSuite('SQLite store (TEST_STORE=sqlite)', sqliteFiles, { TEST_STORE: 'sqlite' })) });
const second = pgDown ? [] : [...postgresFiles, ...scaleOutFiles.filter((f) => !(redisDown && NEEDS_REDIS.includes(f)))];
if (second.length > 0) {
  results.push({
    title: 'PostgreSQL and scale-out',
    ...(await runSuite('PostgreSQL store (TEST_STORE=postgres) and scale-out', second, {
      TEST_STORE: 'postgres',
      DATABASE_URL_TEST: pgUrl,
      REDIS_URL_TEST: redisUrl,
    })),
  });
}

console.log('\n=== summary ===');
const total: Counts = { pass: 0, fail: 0, skipped: 0, cancelled: 0 };
for (const r of results) {
  console.log(`${r.title}: ${r.counts.pass} passed, ${r.counts.fail} failed, ${r.counts.skipped} skipped${r.code !== 0 ? ` (runner exit ${r.code})` : ''}`);
  for (const k of Object.keys(total) as Array<keyof Counts>) total[k] += r.counts[k];
}
if (skipped.length > 0) console.log(`not run:\n${skipped.map((s) => `  - ${s}`).join('\n')}`);
const failed = results.some((r) => r.code !== 0) || total.fail > 0 || total.cancelled > 0;
console.log(`total: ${total.pass} passed, ${total.fail + total.cancelled} failed, ${total.skipped} skipped`);
process.exit(failed ? 1 : 0);
