/**
 * Pieces shared by the benchmarks: data sets written as import files, servers run as child
 * processes (the load generator, this process, never shares a process with a server), autocannon
 * runs that count every unexpected status as a failure, and the results table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign as rsaSign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { KeyFile } from '../src/auth/keyfile.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'bin', 'ds100-admin.js');
export const API = '/AdminInterface/restapi';

export const deviceOf = (i: number): string => String(200_000_000 + i);
export const userIdOf = (i: number): string => `b${String(i).padStart(7, '0')}-0000-4000-8000-000000000000`;

/** Writes `count` users and one DS100 each as CSV import files; returns their paths. */
export async function writeDataset(dir: string, count: number): Promise<{ users: string; ds100: string }> {
  mkdirSync(dir, { recursive: true });
  const users = join(dir, 'users.csv');
  const ds100 = join(dir, 'ds100.csv');
  const write = async (path: string, header: string, line: (i: number) => string) => {
    const out = createWriteStream(path);
    out.write(`${header}\n`);
    for (let i = 0; i < count; i++) {
      if (!out.write(`${line(i)}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
  };
  await write(users, 'id,email,firstName,lastName', (i) => `${userIdOf(i)},user${i}@bench.example,User,${i}`);
  await write(ds100, 'user,deviceSerialNumber,tokenSerialNumber,status', (i) => `${userIdOf(i)},${deviceOf(i)},0${deviceOf(i)}31,Enabled`);
  return { users, ds100 };
}

/**
 * Runs the CLI to completion; rejects with its stderr on a non-zero exit. Returns stdout, the
 * seconds taken and the peak resident memory seen (MB, sampled every 100 ms).
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; seconds: number; peakRssMb: number }> {
  const started = process.hrtime.bigint();
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peakRssMb = 0;
    const sampler = setInterval(() => {
      try {
        const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
        peakRssMb = Math.max(peakRssMb, Number(hwm ?? 0) / 1024);
      } catch {
        // the process has just exited
      }
    }, 100);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => {
      clearInterval(sampler);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) ok({ stdout, seconds, peakRssMb });
      else fail(new Error(`ds100-admin ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
    });
  });
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => ok(port));
    });
  });
}

export interface Child {
  url: string;
  process: ChildProcess;
  /** Resident set size of the server process, in MB. */
  rssMb(): number;
  stop(): Promise<void>;
}

/** Starts a process and waits for `ready` to appear on its stdout. */
export async function startChild(args: string[], port: number, ready: RegExp, scheme: 'http' | 'https' = 'http'): Promise<Child> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not start: ${output}`)), 30_000);
    const onData = (d: Buffer) => {
      output += d;
      if (ready.test(output)) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d) => (output += d));
    child.once('exit', (code) => fail(new Error(`server exited ${code}: ${output}`)));
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    process: child,
    rssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    },
    stop: () =>
      new Promise((ok) => {
        child.removeAllListeners('exit');
        child.once('exit', () => ok());
        child.kill('SIGTERM');
      }),
  };
}

/** Starts ds100-admin on `dataDir` with rate limits out of the way. */
export async function startServer(dataDir: string, extra: string[] = []): Promise<Child> {
  const port = await freePort();
  return startChild(
    [CLI, 'serve', '--data', dataDir, '--port', String(port), '--rate-per-key', '1000000000', '--rate-per-address', '1000000000', '--log-level', 'warn', ...extra],
    port,
    /listening on/,
    extra.includes('--tls-self-signed') ? 'https' : 'http',
  );
}

/** Creates a HelpDeskAdmin key for a server at `publicUrl` and returns the key file. */
export async function createKey(dataDir: string, publicUrl: string, extra: string[] = []): Promise<KeyFile> {
  const { stdout } = await runCli(['keys', 'create', '--role', 'HelpDeskAdmin', '--data', dataDir, '--public-url', publicUrl, ...extra]);
  const path = stdout.trim().split('\n').pop()!;
  return JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
}

/** An RS256 JWT for the key file, signed with node:crypto (the load generator must sign fast). */
export function signToken(keyFile: KeyFile, key: KeyObject = createPrivateKey(keyFile.accessKey), salt = 0): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc({ sub: keyFile.accessID, iat: now - salt % 60, exp: now + 3000, aud: keyFile.adminRestApiUrl, n: salt })}`;
  return `${input}.${rsaSign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

/** An OAuth client made by `oauth-clients create` (ES256): its id and private key. */
export interface BenchClient {
  clientId: string;
  key: KeyObject;
  kid: string;
}

/** Creates an OAuth client holding every DS100 and user scope, through the CLI. */
export async function createOAuthClient(dataDir: string, publicUrl: string, extra: string[] = []): Promise<BenchClient> {
  const { stdout } = await runCli([
    'oauth-clients', 'create', '--alg', 'ES256', '--data', dataDir, '--public-url', publicUrl, ...extra,
    '--scope', 'rsa.authenticator.ds100.manage rsa.authenticator.ds100.read rsa.user.read',
  ]);
  const jwk = JSON.parse(readFileSync(stdout.trim().split('\n').pop()!, 'utf8')) as JsonWebKey & { kid: string };
  return { clientId: /^client id: +(\S+)$/m.exec(stdout)![1]!, key: createPrivateKey({ key: jwk, format: 'jwk' }), kid: jwk.kid };
}

/** A token request's form body for `client`, with a fresh assertion (its own jti) for `tokenEndpoint`. */
export function grantBody(client: BenchClient, tokenEndpoint: string): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'ES256', typ: 'JWT', kid: client.kid })}.${enc({ iss: client.clientId, sub: client.clientId, aud: tokenEndpoint, iat: now, exp: now + 3000, jti: randomUUID() })}`;
  const assertion = `${input}.${rsaSign('sha256', Buffer.from(input), { key: client.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  return new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  }).toString();
}

/** An access token for `client` from the server at `url`. */
export async function accessToken(url: string, client: BenchClient): Promise<string> {
  const res = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: grantBody(client, `${url}/oauth/token`),
  });
  if (res.status !== 200) throw new Error(`token request answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export interface Scenario {
  name: string;
  url: string;
  /** Fixed length in seconds, or a fixed number of requests. */
  duration?: number;
  amount?: number;
  connections: number;
  /** The n-th request: method, path, headers, body. */
  request: (n: number) => { method: 'GET' | 'POST' | 'PATCH'; path: string; headers?: Record<string, string>; body?: string };
  expectStatus: number;
}

/**
 * Lookups of `records` distinct devices with one reused token. `spread` visits them in a
 * scattered order, so that a large directory is not served from a few hot pages.
 */
export function lookupScenario(o: {
  name: string;
  url: string;
  token: string;
  records: number;
  duration: number;
  connections: number;
  spread?: boolean;
}): Scenario {
  return {
    name: o.name,
    url: o.url,
    duration: o.duration,
    connections: o.connections,
    expectStatus: 200,
    request: (n) => ({
      method: 'POST',
      path: `${API}/v1/ds100/lookup`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${o.token}` },
      body: JSON.stringify({ deviceSerialNumber: deviceOf((o.spread ? n * 7_919 : n) % o.records) }),
    }),
  };
}

export interface Figures {
  scenario: string;
  requests: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  unexpected: number;
  errors: number;
}

/**
 * Runs one scenario with autocannon; every answer whose status is not the expected one is counted
 * (from autocannon's own status counts: a per-response callback would make it buffer every body
 * and slow the load generator down).
 */
export async function load(s: Scenario): Promise<Figures> {
  let n = 0;
  const result = await autocannon({
    // An https:// URL is loaded over TLS. autocannon itself never checks the server's certificate
    // (it sets rejectUnauthorized: false); a client that does checks it once per connection, and
    // these connections are kept alive, so the figure is what a verifying client would see.
    url: s.url,
    connections: s.connections,
    pipelining: 1,
    // autocannon notices the end of a run (its duration, or the last of `amount` answers) only at
    // its next sample; at the default of one per second, a fixed-count run was charged for up to
    // a second of idling after its last answer.
    sampleInt: 10,
    ...(s.amount ? { amount: s.amount } : { duration: s.duration ?? 10 }),
    requests: [
      {
        setupRequest: (req) => {
          const r = s.request(n++);
          return { ...req, method: r.method, path: r.path, headers: { ...r.headers }, ...(r.body ? { body: r.body } : {}) };
        },
      },
    ],
  });
  const expected = (result.statusCodeStats as Record<string, { count: number }>)[String(s.expectStatus)]?.count ?? 0;
  const unexpected = result.requests.total - expected;
  return {
    scenario: s.name,
    requests: result.requests.total,
    // Over the whole run, measured to 10 ms: autocannon's per-second average rounds a short,
    // fixed-count run (cold-auth) to whole seconds.
    reqPerSec: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    unexpected,
    errors: result.errors + result.timeouts,
  };
}

/** Prints the results table and writes it as JSON under bench/results/. */
export function report(name: string, rows: Array<Figures & { ratio?: number; rssMb?: number }>, meta: object): string {
  const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'ratio', 'RSS MB', 'requests', 'failures'];
  const lines = rows.map((r) => [
    r.scenario,
    r.reqPerSec.toFixed(0),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    r.ratio === undefined ? '' : r.ratio.toFixed(2),
    r.rssMb === undefined ? '' : r.rssMb.toFixed(0),
    String(r.requests),
    String(r.unexpected + r.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const table = [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
  console.log(table);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const file = join(ROOT, 'bench', 'results', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ ...meta, rows }, null, 2)}\n`);
  console.log(`results written to ${file}`);
  return file;
}
