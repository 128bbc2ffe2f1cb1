import type { Clock } from '../domain/clock.ts';

/** A token bucket: `capacity` requests at once, refilled at `capacity` per `windowSeconds`. */
export interface RatePolicy {
  capacity: number;
  windowSeconds: number;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the bucket is full again (`RateLimit-Reset`). */
  resetSeconds: number;
  /** Seconds until the next request would be allowed (`Retry-After`); 0 when allowed. */
  retryAfterSeconds: number;
}

/** Takes one token from a named bucket. Implementations: in memory (here) and Redis (shared). */
export interface RateLimiter {
  take(bucket: string, policy: RatePolicy): Promise<RateDecision>;
  close?(): Promise<void>;
}

/**
 * The bucket arithmetic, shared by every implementation: given the stored level and its time,
 * the level after one `take` now and the answer to give.
 */
export function takeToken(
  stored: { tokens: number; at: number } | undefined,
  nowMs: number,
  policy: RatePolicy,
): { state: { tokens: number; at: number }; decision: RateDecision } {
  const perMs = policy.capacity / (policy.windowSeconds * 1000);
  // A clock stepped back (NTP) refills nothing but must not drain the bucket either.
  const elapsedMs = stored ? Math.max(0, nowMs - stored.at) : 0;
  const level = stored ? Math.min(policy.capacity, stored.tokens + elapsedMs * perMs) : policy.capacity;
  const allowed = level >= 1;
  const tokens = allowed ? level - 1 : level;
  return {
    state: { tokens, at: nowMs },
    decision: {
      allowed,
      limit: policy.capacity,
      remaining: Math.floor(tokens),
      resetSeconds: Math.ceil((policy.capacity - tokens) / perMs / 1000),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / perMs / 1000)),
    },
  };
}

/** Buckets held by this process. Full buckets carry no information and are the first dropped. */
export function makeMemoryRateLimiter(clock: Clock, maxBuckets = 100_000): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    async take(bucket, policy) {
      const { state, decision } = takeToken(buckets.get(bucket), clock.now(), policy);
      buckets.delete(bucket);
      if (buckets.size >= maxBuckets) buckets.delete(buckets.keys().next().value as string);
      buckets.set(bucket, state);
      return decision;
    },
  };
}
