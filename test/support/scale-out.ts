/**
 * What the scale-out suites share: the real PostgreSQL and Redis on loopback (each test in a
 * schema and a key prefix of its own), and a TCP proxy in front of either that a test can cut
 * and restore, to play an outage without touching the machine's services.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import type { Actor } from '../../src/domain/types.ts';
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/index.ts';
import { freshSchema } from './stores.ts';

export const REDIS_URL = process.env.REDIS_URL_TEST || 'redis://127.0.0.1:6379';
/** A loopback port nothing listens on: connections are refused at once. */
export const CLOSED_PORT_REDIS_URL = 'redis://127.0.0.1:1';

export const seeder: Actor = { kind: 'operator', subject: 'scale-out-test', role: null, clientAddress: 'local', requestId: null };

/** A Redis key prefix no other test uses; `cleanup` deletes its keys. */
export function redisPrefix(): { prefix: string; cleanup(): Promise<void>; keys(): Promise<string[]> } {
  const prefix = `ds100-test:${process.pid}:${randomBytes(5).toString('hex')}:`;
  const withClient = async <T>(work: (r: Redis) => Promise<T>): Promise<T> => {
    const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      return await work(r);
    } finally {
      r.disconnect();
    }
  };
  const keys = () => withClient((r) => r.keys(`${prefix}*`));
  return {
    prefix,
    keys,
    cleanup: () =>
      withClient(async (r) => {
        const found = await r.keys(`${prefix}*`);
        if (found.length > 0) await r.del(...found);
      }),
  };
}

/**
 * A fresh schema and a way to open any number of stores (separate pools, as separate instances
 * would have) on it. `dispose` closes them all and drops the schema.
 */
export async function sharedSchema(): Promise<{
  schema: string;
  url: string;
  open(options?: Partial<PostgresStoreOptions>): Promise<PostgresStore>;
  dispose(): Promise<void>;
}> {
  const fresh = await freshSchema('ds100_so');
  const stores: PostgresStore[] = [];
  return {
    schema: fresh.schema,
    url: fresh.url,
    async open(options = {}) {
      const store = await openPostgresStore({ url: fresh.url, schema: fresh.schema, poolSize: 4, ...options });
      stores.push(store);
      return store;
    },
    async dispose() {
      for (const s of stores.splice(0)) await s.close().catch(() => {});
      await fresh.dispose();
    },
  };
}

export type ProxyMode = 'forward' | 'reset' | 'blackhole' | 'hold';

export interface TcpProxy {
  port: number;
  /** forward: pass bytes both ways. reset: refuse (reset) every connection, cutting the open ones.
   * blackhole: accept and hold connections, and freeze the open ones, answering nothing.
   * hold: pass the client's bytes on, but keep the server's (a slow network) until the mode
   * changes; then each connection gets what was kept in one write, and its end if the server
   * closed it meanwhile. */
  setMode(mode: ProxyMode): void;
  /** What the server sent each connection while held, and whether it has closed it since. */
  held(): Array<{ bytes: Buffer; serverClosed: boolean }>;
  close(): Promise<void>;
}

interface ProxiedPair {
  client: net.Socket;
  upstream: net.Socket;
  /** The server's bytes kept in `hold` mode, and what keeps them, while the pair is held. */
  kept?: Buffer[];
  keep?: (chunk: Buffer) => void;
  serverClosed?: boolean;
}

/** A TCP proxy on a loopback port in front of `target`, under the test's control. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'forward';
  const pairs = new Set<ProxiedPair>();
  const held = new Set<net.Socket>();

  const hold = (pair: ProxiedPair): void => {
    if (pair.kept) return;
    const kept: Buffer[] = [];
    pair.kept = kept;
    pair.keep = (chunk) => void kept.push(chunk);
    pair.upstream.unpipe(pair.client);
    pair.upstream.on('data', pair.keep);
    pair.upstream.resume();
  };
  const release = (pair: ProxiedPair): void => {
    const { client, upstream, kept, keep } = pair;
    if (!kept || !keep) return;
    pair.kept = undefined;
    upstream.removeListener('data', keep);
    if (kept.length > 0) client.write(Buffer.concat(kept));
    if (pair.serverClosed) {
      pairs.delete(pair);
      client.end(() => client.destroy());
    } else {
      upstream.pipe(client);
    }
  };

  const server = net.createServer((client) => {
    client.on('error', () => {});
    if (mode === 'reset') return void client.resetAndDestroy();
    if (mode === 'blackhole') {
      held.add(client);
      client.on('close', () => held.delete(client));
      return;
    }
    const upstream = net.connect(target.port, target.host);
    upstream.on('error', () => {});
    const pair: ProxiedPair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    if (mode === 'hold') hold(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', () => {
      // A held connection's end reaches the client after what the server said before it.
      if (pair.kept) pair.serverClosed = true;
      else end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    setMode(next) {
      mode = next;
      if (next !== 'hold') for (const pair of pairs) release(pair);
      if (next === 'reset') {
        for (const { client } of pairs) client.resetAndDestroy();
        for (const s of held) s.resetAndDestroy();
      } else if (next === 'blackhole') {
        // The connections stay open but nothing passes any more: the other side hears nothing.
        for (const { client, upstream } of pairs) {
          client.unpipe(upstream);
          upstream.unpipe(client);
          client.pause();
          upstream.pause();
        }
      } else if (next === 'hold') {
        for (const pair of pairs) hold(pair);
      } else {
        for (const s of held) s.destroy();
        // Frozen connections are dead for good: their protocol state is lost.
        for (const { client } of pairs) if (client.isPaused()) client.destroy();
      }
    },
    held: () => [...pairs].filter((p) => p.kept).map((p) => ({ bytes: Buffer.concat(p.kept!), serverClosed: p.serverClosed === true })),
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export { auditEvent, credential, user } from './records.ts';

/**
 * Checks a toggling history against the final state. `changed` holds the `changed` enable and
 * disable events of one credential set, in commit order (`seq`). Walking them from the initial
 * statuses, each must be a real transition (some credential had the other status); the result
 * is the number of transitions and the state the last one names.
 */
export function replayTransitions(
  initial: Array<'Enabled' | 'Disabled'>,
  changed: Array<{ operation: string }>,
): { transitions: number; impossible: number; state: Array<'Enabled' | 'Disabled'> } {
  let state = [...initial];
  let transitions = 0;
  let impossible = 0;
  for (const e of changed) {
    const target = e.operation === 'ds100.enable' ? 'Enabled' : 'Disabled';
    if (state.some((s) => s !== target)) transitions++;
    else impossible++;
    state = state.map(() => target);
  }
  return { transitions, impossible, state };
}

/** Polls `check` until it returns true, at most `attempts` times `everyMs` apart. */
export async function eventually(check: () => Promise<boolean>, attempts = 60, everyMs = 250): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await check().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}
