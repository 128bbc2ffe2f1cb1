/**
 * `ds100-admin emulate`'s two promises to test harnesses: its start-up (from `startEmulator`
 * in process, and from spawning the command to its JSON line) and its reset with a large seed
 * (targets: well under a second, and at most 50 ms with 10 000 records). The command's start is
 * timed as a checkout runs it (its TypeScript through tsx, each module passing the loader's hooks)
 * and, when dist/ is built from the current sources, as an installed package runs it.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { startEmulator as StartEmulator } from '../src/emulator/index.ts';
import { CLI, ROOT, deviceOf, userIdOf } from './lib.ts';

export interface EmulateFigures {
  /** The first in-process start with no seed: the server's modules loaded, and the default key pairs made unless kept from an earlier run. */
  coldStartMs: number;
  /** Median of the `runs` starts after it. */
  startMs: number;
  /** Median of `runs` spawns of `ds100-admin emulate` until its JSON line: from a checkout, the TypeScript sources through tsx. */
  processStartMs: number;
  /** The same from the build (`node dist/cli/main.js emulate`, what an installed package runs), when dist/ is newer than src/; else null. */
  builtProcessStartMs: number | null;
  /** Start-up with the big seed, once. */
  seededStartMs: number;
  users: number;
  registrations: number;
  /** Reset with the big seed, after changes: median and worst of `runs`, as the client waits for it. */
  resetMedianMs: number;
  resetMaxMs: number;
  /** The same as the server measured it (`tookMs`): without the HTTP round trip and the bench's own pauses. */
  resetServerMedianMs: number;
  resetServerMaxMs: number;
  runs: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function processStart(cli: string): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [cli, 'emulate'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => {
      const ms = performance.now() - started;
      child.once('exit', () => resolve(ms));
      child.kill('SIGTERM');
    });
    child.once('error', reject);
  });
}

/** dist/cli/main.js when `npm run build` made it after the last change under src/, else null: a stale build would measure other code. */
function currentBuild(): string | null {
  const built = join(ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(built)) return null;
  const builtAt = statSync(built).mtimeMs;
  const src = join(ROOT, 'src');
  const newer = readdirSync(src, { recursive: true, encoding: 'utf8' }).some((f) => statSync(join(src, f)).mtimeMs > builtAt);
  return newer ? null : built;
}

/**
 * The server's modules, loaded only here: imported by `npm run bench` at its start, they sat in
 * the load generator's heap through every scenario before this one.
 */
const emulatorModule = (): Promise<{ startEmulator: typeof StartEmulator }> => import('../src/emulator/index.ts');

export async function emulateFigures(records: number, runs: number): Promise<EmulateFigures> {
  const { startEmulator } = await emulatorModule();
  const starts: number[] = [];
  const processStarts: number[] = [];
  const builtStarts: number[] = [];
  const built = currentBuild();
  for (let i = 0; i <= runs; i++) {
    const t = performance.now();
    const e = await startEmulator();
    starts.push(performance.now() - t);
    await e.close();
    if (i < runs) processStarts.push(await processStart(CLI));
    if (i < runs && built) builtStarts.push(await processStart(built));
  }
  const coldStartMs = starts.shift()!;

  const seed = {
    users: Array.from({ length: records }, (_, i) => ({ id: userIdOf(i), email: `user${i}@bench.example.com` })),
    registrations: Array.from({ length: records }, (_, i) => ({ user: userIdOf(i), deviceSerialNumber: deviceOf(i), tokenSerialNumber: `0${deviceOf(i)}31` })),
  };
  const t = performance.now();
  const emulator = await startEmulator({ seed });
  const seededStartMs = performance.now() - t;
  const resets: number[] = [];
  const serverResets: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      await emulator.control.seed({ users: [{ email: `extra${i}@bench.example.com` }] });
      await emulator.control.setClock({ offsetSeconds: 3600 });
      const r = performance.now();
      const { tookMs } = await emulator.control.reset();
      resets.push(performance.now() - r);
      serverResets.push(tookMs);
    }
  } finally {
    await emulator.close();
  }
  return {
    coldStartMs,
    startMs: median(starts),
    processStartMs: median(processStarts),
    builtProcessStartMs: built ? median(builtStarts) : null,
    seededStartMs,
    users: records,
    registrations: records,
    resetMedianMs: median(resets),
    resetMaxMs: Math.max(...resets),
    resetServerMedianMs: median(serverResets),
    resetServerMaxMs: Math.max(...serverResets),
    runs,
  };
}

export function printEmulateFigures(f: EmulateFigures): void {
  console.log(
    [
      `emulate: start ${f.coldStartMs.toFixed(0)} ms in process the first time, then ${f.startMs.toFixed(0)} ms; ` +
        `${f.processStartMs.toFixed(0)} ms from spawning the command to its JSON line through tsx, ` +
        (f.builtProcessStartMs === null ? 'no current build to time (npm run build)' : `${f.builtProcessStartMs.toFixed(0)} ms from the build`) +
        ` (medians of ${f.runs})`,
      `emulate: seeded with ${f.users} users and ${f.registrations} DS100 registrations: start ${f.seededStartMs.toFixed(0)} ms, ` +
        `reset ${f.resetMedianMs.toFixed(1)} ms median, ${f.resetMaxMs.toFixed(1)} ms worst of ${f.runs} (target: 50 ms); ` +
        `the server's own time ${f.resetServerMedianMs.toFixed(1)} ms median, ${f.resetServerMaxMs.toFixed(1)} ms worst`,
    ].join('\n'),
  );
}
