import { Redis } from 'ioredis';
import { systemClock, type Clock } from '../domain/clock.ts';
import { makeMemoryRateLimiter, takeToken, type RateDecision, type RateLimiter, type RatePolicy } from './limiter.ts';

/** Where the limiter says that Redis went away and came back: once each, never per request. */
export interface LimiterLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface RedisRateLimiterOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url: string;
  /** Prepended to every bucket's key, so that several deployments can share one Redis. */
  keyPrefix?: string;
  /** Time of the per-instance buckets used while Redis is unreachable (the shared ones use Redis's clock). */
  clock?: Clock;
  /** Longest wait for Redis's answer before this request falls back to the local bucket (default 500 ms). */
  timeoutMs?: number;
  log?: LimiterLog;
}

/** A limiter whose buckets all instances share, with a fallback of its own. */
export interface SharedRateLimiter extends RateLimiter {
  /** True while the buckets are shared through Redis; false while this instance counts alone. */
  readonly shared: boolean;
  /**
   * Resolves true once the buckets are shared, false as soon as Redis is found unreachable or
   * `timeoutMs` passes: a server waits for this before listening, so that it starts shared.
   */
  connected(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export const DEFAULT_KEY_PREFIX = 'ds100-admin:rl:';
const DEFAULT_TIMEOUT_MS = 500;
/** While Redis answers badly on a live connection, one request in this long tries it again. */
const PROBE_INTERVAL_MS = 1000;

/**
 * `takeToken`'s refill, done atomically where the bucket lives. KEYS[1] is the bucket; ARGV are
 * the capacity and the window in milliseconds. The time is Redis's own, so instances whose
 * clocks disagree still share one bucket correctly. It stores the level after the take and
 * returns the level before it (after the refill) with the time, from which the caller computes
 * the answer with `takeToken` itself: the decision's arithmetic lives in one place. The key
 * expires once the bucket would be full again, since a missing bucket is a full one.
 */
const TAKE_SCRIPT = `
local capacity = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local perMs = capacity / windowMs
local level = capacity
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if stored[1] and stored[2] then
  local elapsed = math.max(0, now - tonumber(stored[2]))
  level = math.min(capacity, tonumber(stored[1]) + elapsed * perMs)
end
local tokens = level
if level >= 1 then tokens = level - 1 end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / perMs) + 1000)
return { string.format('%.17g', level), now }
`;

type TakeCommand = (key: string, capacity: number, windowMs: number) => Promise<[string, number | string]>;

/**
 * Token buckets shared by every instance through Redis (spec 6: the limits hold for the service,
 * not per process). When Redis cannot be reached the instance keeps serving with buckets of its
 * own, says so once in the log, and uses the shared buckets again as soon as Redis is back; the
 * client reconnects by itself in the background. A request never waits on a Redis that is known
 * to be down: commands fail at once while disconnected (no offline queue), and a live but
 * unanswering connection costs at most one `timeoutMs` per probe interval.
 */
export function makeRedisRateLimiter(options: RedisRateLimiterOptions): SharedRateLimiter {
  const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const log = options.log;
  const local = makeMemoryRateLimiter(options.clock ?? systemClock);

  const client = new Redis(options.url, {
    protocol: 2,
    connectionName: 'ds100-admin',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(1000, 4 * timeoutMs),
    retryStrategy: (times) => Math.min(100 * times, 2000),
    scripts: { ds100Take: { lua: TAKE_SCRIPT, numberOfKeys: 1 } },
  });
  const take = (client as unknown as { ds100Take: TakeCommand }).ds100Take.bind(client);

  /** 'up': shared buckets. 'down': local buckets, since `since`. 'starting': not connected yet, nothing to report. */
  let state: 'starting' | 'up' | 'down' = 'starting';
  let nextProbe = 0;
  let probing = false;
  let closed = false;

  const goDown = (error: unknown): void => {
    nextProbe = Date.now() + PROBE_INTERVAL_MS;
    if (state === 'down' || closed) return;
    state = 'down';
    log?.warn(
      { err: { message: error instanceof Error ? error.message : String(error) } },
      'Redis is unreachable: rate limits are per instance until it is back',
    );
  };
  const goUp = (): void => {
    if (state === 'up' || closed) return;
    if (state === 'down') log?.info({}, 'Redis is reachable again: rate limits are shared again');
    state = 'up';
  };

  client.on('error', (error: unknown) => goDown(error));
  client.on('ready', goUp);
  client.on('close', () => {
    if (!closed && state === 'up') goDown(new Error('connection to Redis closed'));
  });

  async function takeShared(bucket: string, policy: RatePolicy): Promise<RateDecision> {
    const [level, at] = await take(prefix + bucket, policy.capacity, policy.windowSeconds * 1000);
    const now = Number(at);
    return takeToken({ tokens: Number(level), at: now }, now, policy).decision;
  }

  return {
    get shared() {
      return state === 'up';
    },
    async take(bucket, policy) {
      if (client.status !== 'ready') return local.take(bucket, policy);
      // Up: every request goes to Redis. Down on a live connection (it answered badly or late):
      // one request per interval probes it while the others count locally.
      if (state === 'down' && (probing || Date.now() < nextProbe)) return local.take(bucket, policy);
      const probe = state === 'down';
      if (probe) probing = true;
      try {
        const decision = await takeShared(bucket, policy);
        goUp();
        return decision;
      } catch (error) {
        goDown(error);
        return local.take(bucket, policy);
      } finally {
        if (probe) probing = false;
      }
    },
    connected(waitMs) {
      if (state !== 'starting') return Promise.resolve(state === 'up');
      return new Promise<boolean>((resolve) => {
        const done = (value: boolean) => {
          clearTimeout(timer);
          client.off('ready', onReady);
          client.off('error', onError);
          resolve(value);
        };
        const onReady = () => done(true);
        const onError = () => done(false);
        const timer = setTimeout(() => done(false), waitMs);
        client.once('ready', onReady);
        client.once('error', onError);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      if (client.status === 'ready') {
        await Promise.race([client.quit().catch(() => {}), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
      }
      client.disconnect();
    },
  };
}
