/**
 * `npm run bench:scale`: a million-record directory (issue 5). Imports 1 000 000 users and
 * 1 000 000 DS100 credentials through the CLI's import path, then runs the lookup scenario against
 * it and against a 10 000-record directory in the same run.
 *
 *   npm run bench:scale                      1 000 000 records, 10 s of lookups
 *   npm run bench:scale -- --records 50000 --duration 3     a quicker look
 *   npm run bench:scale -- --only events [--events 1000000]  the event log part alone
 */
import { statSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { eventLogBench } from './event-log.ts';
import { createKey, load, lookupScenario, report, runCli, signToken, startServer, writeDataset, type Figures } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    small: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    events: { type: 'string', default: '1000000' },
    /** `events` runs the event log part alone. */
    only: { type: 'string' },
  },
});
const duration = Number(args.duration);
const connections = Number(args.connections);

const sizeMb = (dir: string): number =>
  ['ds100-admin.db', 'ds100-admin.db-wal']
    .map((f) => join(dir, f))
    .filter((f) => existsSync(f))
    .reduce((sum, f) => sum + statSync(f).size, 0) / 1024 / 1024;

async function directoryOf(work: string, records: number) {
  const dir = join(work, String(records));
  const files = await writeDataset(join(work, `import-${records}`), records);
  const users = await runCli(['users', 'import', files.users, '--data', dir]);
  const ds100 = await runCli(['ds100', 'import', files.ds100, '--data', dir]);
  return { dir, users, ds100 };
}

async function lookupAt(dir: string, records: number): Promise<Figures & { rssMb: number }> {
  const server = await startServer(dir);
  try {
    const token = signToken(await createKey(dir, server.url));
    const scenario = lookupScenario({ name: `lookup @ ${records.toLocaleString('en')}`, url: server.url, token, records, duration, connections, spread: true });
    // Both servers get the same unmeasured warm-up (JIT, first reads), so that the ratio compares
    // directory sizes rather than which one was measured while still warming.
    await load({ ...scenario, duration: Math.min(2, duration) });
    const f = await load(scenario);
    return { ...f, rssMb: server.rssMb() };
  } finally {
    await server.stop();
  }
}

/** The million-record directory: import, and lookups at 10 000 and at 1 000 000 records. */
async function directoryScale(): Promise<void> {

  const records = Number(args.records);
  const small = Number(args.small);
  console.log(`scale: importing ${records.toLocaleString('en')} users and DS100 credentials through the CLI`);
  const big = await directoryOf(work, records);
  const importSeconds = big.users.seconds + big.ds100.seconds;
  console.log(
    `import: users ${big.users.seconds.toFixed(1)} s (peak RSS ${big.users.peakRssMb.toFixed(0)} MB), ` +
      `ds100 ${big.ds100.seconds.toFixed(1)} s (peak RSS ${big.ds100.peakRssMb.toFixed(0)} MB), total ${importSeconds.toFixed(1)} s; ` +
      `database ${sizeMb(big.dir).toFixed(0)} MB`,
  );
  const smallDir = await directoryOf(work, small);
  const atSmall = await lookupAt(smallDir.dir, small);
  const atBig = await lookupAt(big.dir, records);
  const rows = [
    { ...atSmall, ratio: 1 },
    { ...atBig, ratio: atBig.reqPerSec / atSmall.reqPerSec },
  ];
  report('scale', rows, {
    records,
    importSeconds,
    usersImportSeconds: big.users.seconds,
    ds100ImportSeconds: big.ds100.seconds,
    importPeakRssMb: Math.max(big.users.peakRssMb, big.ds100.peakRssMb),
    databaseMb: sizeMb(big.dir),
    duration,
    connections,
  });
  console.log('ratio: lookup req/s at the large directory over the small one');
  if (rows.some((r) => r.unexpected + r.errors > 0)) {
    console.error('scale: FAILED: unexpected statuses or errors');
    process.exitCode = 1;
  }
}

const work = mkdtempSync(join(tmpdir(), 'ds100-scale-'));
try {
  // Contract 11: a million-event trail, a page at the start and at the end, and all of it exported.
  const log = await eventLogBench(work, { events: Number(args.events), duration: Math.min(duration, 10), connections: 4 });
  report('scale-event-log', log.rows, { events: log.events, writeSeconds: log.writeSeconds, exportSeconds: log.exportSeconds, exported: log.exported });
  console.log('event log targets: p99 <= 20 ms at both pages; the whole trail exported in <= 60 s');
  if (log.exported !== log.events || log.rows.some((r) => r.unexpected + r.errors > 0)) {
    console.error('scale: FAILED: the event log export lost events or answered unexpectedly');
    process.exitCode = 1;
  }
  if (args.only !== 'events') await directoryScale();
} finally {
  rmSync(work, { recursive: true, force: true });
}
