/**
 * The server's settings and their defaults, apart from the app itself: the command line reads
 * them for its flags without loading Fastify (a `keys list` should not pay for an HTTP server).
 */
import { BlockList, isIP } from 'node:net';
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

/**
 * Which `X-Forwarded-For` entries to believe. Each proxy appends the address it took the request
 * from; whatever stands left of what the proxies wrote, the client wrote itself. Either the
 * number of proxies in front, every one of which appends (the client is that many entries from
 * the right: only safe when clients cannot reach the server but through them), or the proxies'
 * addresses and CIDR ranges (the client is the right-most entry that is not one of them).
 */
export type TrustedProxies = number | readonly string[];

/** The ranges of proxy-addr's names, which Express and Fastify users know. */
const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};
const MAX_PROXY_HOPS = 32;

function addRange(list: BlockList, range: string): boolean {
  const [address = '', prefix, extra] = range.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefix === undefined) {
    list.addAddress(address, type);
    return true;
  }
  const bits = Number(prefix);
  if (!/^\d{1,3}$/.test(prefix) || bits > (family === 4 ? 32 : 128)) return false;
  list.addSubnet(address, bits, type);
  return true;
}

/**
 * `--trust-proxy`: a number of proxies (`1`), or a comma list of proxy addresses, CIDR ranges
 * and the names loopback, linklocal, uniquelocal. Throws a RangeError naming what is wrong.
 */
export function parseTrustedProxies(value: string): TrustedProxies {
  const usage = `--trust-proxy takes the number of proxies in front (1 to ${MAX_PROXY_HOPS}) or their addresses and CIDR ranges, comma-separated (e.g. 10.0.0.0/8,192.168.1.5)`;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops < 1 || hops > MAX_PROXY_HOPS) throw new RangeError(`${usage}, not ${value}`);
    return hops;
  }
  const entries = value.split(',').map((e) => e.trim());
  for (const entry of entries) {
    if (!(entry in NAMED_RANGES) && !addRange(new BlockList(), entry)) throw new RangeError(`${usage}; "${entry}" is neither`);
  }
  return entries;
}

/**
 * Fastify's `trustProxy` for `trusted`: asked about each address from the socket's leftwards,
 * whether it is a proxy whose word (the entry left of it) is to be taken.
 */
export function proxyTrust(trusted: TrustedProxies): (address: string, hop: number) => boolean {
  // A plain number would not do: Fastify 5 reads it as "trust no one" (it cannot check the peer).
  if (typeof trusted === 'number') return (_address, hop) => hop < trusted;
  const proxies = new BlockList();
  for (const entry of trusted) {
    for (const range of NAMED_RANGES[entry] ?? [entry]) addRange(proxies, range);
  }
  return (address) => {
    const family = isIP(address);
    return family !== 0 && proxies.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
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
