/**
 * The real `ds100-admin` command in a child process, for the CLI and durability tests: `runCli`
 * runs a command to its end; `startServe` starts `serve` and waits for its "listening on" line.
 * Waits are bounded, so that a broken build fails the test instead of hanging it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import type { KeyFile } from '../../src/auth/keyfile.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'ds100-admin.js');
export const API = '/AdminInterface/restapi';

/** Environment for a child: none of the variables that would point it elsewhere. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['DS100_DATA', 'DATABASE_URL', 'DS100_PUBLIC_URL', 'NODE_OPTIONS']) delete env[k];
  return env;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `ds100-admin ...args` to its end (at most `timeoutMs`, then it is killed). With
 * `fileSizeLimitKiB`, the process may not grow a file past that size (`ulimit -f`): a write past
 * it fails as on a full disk (SIGXFSZ is ignored, so the write gets EFBIG instead of a kill).
 */
export function runCli(args: string[], options: { timeoutMs?: number; fileSizeLimitKiB?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const command: [string, string[]] = options.fileSizeLimitKiB
      ? ['/bin/sh', ['-c', `trap '' XFSZ; ulimit -f ${options.fileSizeLimitKiB}; exec "$0" "$@"`, process.execPath, BIN, ...args]]
      : [process.execPath, [BIN, ...args]];
    const child = spawn(...command, { cwd: ROOT, env: { ...childEnv(), ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs many commands, at most `parallel` at a time, answers in the order given. */
export async function runCliAll(commands: string[][], parallel = 2): Promise<CliResult[]> {
  const results: CliResult[] = new Array(commands.length);
  let next = 0;
  const worker = async () => {
    while (next < commands.length) {
      const i = next++;
      results[i] = await runCli(commands[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, commands.length) }, worker));
  return results;
}

export interface ServeProcess {
  child: ChildProcess;
  /** http://127.0.0.1:PORT (https:// with TLS), from the "listening on" line. */
  url: string;
  /** The bootstrap key file the server printed, if it made one. */
  bootstrapKeyFile: string | undefined;
  /** Every stdout line so far. */
  lines: string[];
  stderr(): string;
  /** The first stdout line (already seen or to come) that matches, within `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `ds100-admin serve ...args` and waits (bounded) until it listens. */
export async function startServe(args: string[], timeoutMs = 60_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });

  const waitForLine = (pattern: RegExp, ms = timeoutMs): Promise<string> => {
    const seen = lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`no line matching ${pattern} within ${ms} ms; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
      }, ms);
      const waiter = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      waiters.push(waiter);
      void exited.then(({ code, signal }) => {
        if (!waiters.includes(waiter)) return;
        waiters.splice(waiters.indexOf(waiter), 1);
        clearTimeout(timer);
        reject(new Error(`serve exited (${code ?? signal}) before printing ${pattern}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
      });
    });
  };

  const listening = await waitForLine(/^ds100-admin listening on (https?:\/\/\S+)/);
  const url = /listening on (https?:\/\/\S+)/.exec(listening)![1]!;
  const bootstrap = lines.map((l) => /^bootstrap SuperAdmin key file: (.+)$/.exec(l)?.[1]).find((p) => p !== undefined);
  return { child, url, bootstrapKeyFile: bootstrap, lines, stderr: () => stderr, waitForLine, exited };
}

/** Kills a server still running (test clean-up); harmless when it has exited. */
export async function stopServe(server: ServeProcess | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGKILL');
  await server.exited;
}

export function readKeyFile(path: string): KeyFile {
  return JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
}

/** A token as a client signs it from its key file, for the server at `url`. */
export async function tokenFromKeyFile(path: string, url: string): Promise<string> {
  const keyFile = readKeyFile(path);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: keyFile.accessID, iat: now, exp: now + 600, aud: `${url}${API}` })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .sign(createPrivateKey(keyFile.accessKey));
}

/**
 * A JSON call over real HTTP; the answer's status, parsed body (undefined when empty) and
 * X-Request-Id. With `timeoutMs`, a server that does not answer in time makes it throw.
 */
export async function callApi(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  options: { timeoutMs?: number } = {},
): Promise<{ status: number; json: unknown; text: string; requestId: string | null }> {
  const res = await fetch(`${url}${API}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(options.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(options.timeoutMs) }),
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as unknown) : undefined, requestId: res.headers.get('x-request-id') };
}
