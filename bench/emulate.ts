/**
 * `ds100-admin emulate`'s two promises to test harnesses: its start-up (from `startEmulator`
 * in process, and from spawning the command to its JSON line) and its reset with a large seed
 * (targets: well under a second, and at most 50 ms with 10 000 records).
 */
import { spawn } from 'node:child_process';
import { startEmulator } from '../src/emulator/index.ts';
import { CLI, deviceOf, userIdOf } from './lib.ts';

export interface EmulateFigures {
  /** The first in-process start with no seed: the server's modules loaded, and the default key pairs made unless kept from an earlier run. */
  coldStartMs: number;
  /** Median of the `runs` starts after it. */
  startMs: number;
  /** Median of `runs` spawns of `ds100-admin emulate` until its JSON line. */
  processStartMs: number;
  /** Start-up with the big seed, once. */
  seededStartMs: number;
  users: number;
  registrations: number;
  /** Reset with the big seed, after changes: median and worst of `runs`, as the client waits for it. */
  resetMedianMs: number;
  resetMaxMs: number;
  runs: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function processStart(): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'emulate'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => {
      const ms = performance.now() - started;
      child.once('exit', () => resolve(ms));
      child.kill('SIGTERM');
    });
    child.once('error', reject);
  });
}

export async function emulateFigures(records: number, runs: number): Promise<EmulateFigures> {
  const starts: number[] = [];
  const processStarts: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t = performance.now();
    const e = await startEmulator();
    starts.push(performance.now() - t);
    await e.close();
    if (i < runs) processStarts.push(await processStart());
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
  try {
    for (let i = 0; i < runs; i++) {
      await emulator.control.seed({ users: [{ email: `extra${i}@bench.example.com` }] });
      await emulator.control.setClock({ offsetSeconds: 3600 });
      const r = performance.now();
      await emulator.control.reset();
      resets.push(performance.now() - r);
    }
  } finally {
    await emulator.close();
  }
  return {
    coldStartMs,
    startMs: median(starts),
    processStartMs: median(processStarts),
    seededStartMs,
    users: records,
    registrations: records,
    resetMedianMs: median(resets),
    resetMaxMs: Math.max(...resets),
    runs,
  };
}

export function printEmulateFigures(f: EmulateFigures): void {
  console.log(
    [
      `emulate: start ${f.coldStartMs.toFixed(0)} ms in process the first time, then ${f.startMs.toFixed(0)} ms; ` +
        `${f.processStartMs.toFixed(0)} ms from spawning the command to its JSON line (medians of ${f.runs})`,
      `emulate: seeded with ${f.users} users and ${f.registrations} DS100 registrations: start ${f.seededStartMs.toFixed(0)} ms, ` +
        `reset ${f.resetMedianMs.toFixed(1)} ms median, ${f.resetMaxMs.toFixed(1)} ms worst of ${f.runs} (target: 50 ms)`,
    ].join('\n'),
  );
}
