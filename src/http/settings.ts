/**
 * The server's settings and their defaults, apart from the app itself: the command line reads
 * them for its flags without loading Fastify (a `keys list` should not pay for an HTTP server).
 */
import type { RatePolicy } from '../ratelimit/limiter.ts';

export interface RateLimits {
  perKey: RatePolicy;
  perAddress: RatePolicy;
}

/** Defaults generous for a help desk and tight for a script gone wrong; see the README. */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  perKey: { capacity: 600, windowSeconds: 60 },
  perAddress: { capacity: 1200, windowSeconds: 60 },
};

/**
 * What one client connection may hold, and for how long (docs/operations.md). The timeouts close
 * slow-loris connections (headers or a body sent a byte at a time) and idle ones; the
 * connection cap bounds the memory and file descriptors that a flood of sockets can take.
 * Times in milliseconds; 0 turns a limit off.
 */
export interface ConnectionLimits {
  /** Open client connections at most; a connection over the cap is closed on arrival. */
  maxConnections: number;
  /** Requests served on one keep-alive connection before it is closed (0: no limit). */
  maxRequestsPerSocket: number;
  /** A connection with no traffic either way for this long is closed. */
  connectionTimeout: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeout: number;
  /** The request line and headers must have arrived this long after the request began (408 otherwise). */
  headersTimeout: number;
  /** The whole request, body included, must have arrived this long after it began (408 otherwise). */
  requestTimeout: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 1024,
  maxRequestsPerSocket: 0,
  connectionTimeout: 30_000,
  keepAliveTimeout: 72_000,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
};

/** The limits with `over` applied, checked: Node requires headersTimeout <= requestTimeout. */
export function connectionLimits(over: Partial<ConnectionLimits> = {}): ConnectionLimits {
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...over };
  for (const [name, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a whole number >= 0`);
  }
  if (limits.requestTimeout > 0 && limits.headersTimeout > limits.requestTimeout) {
    throw new RangeError('the headers timeout must not exceed the request timeout');
  }
  return limits;
}

/** Keys and fields that must never be written to a log. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  '*.accessKey',
  '*.privateKey',
  '*.privateKeyPem',
  '*.pin',
  '*.token',
];
