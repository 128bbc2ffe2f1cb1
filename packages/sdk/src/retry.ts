import { ApiResponseError, ConnectionError, RateLimitError, RequestAbortedError, type Ds100AdminError } from './errors.ts';

/**
 * When and how often a call is tried again. Retried: 429 (after its `Retry-After`), 502, 503,
 * 504 and a connection reset by the peer. Never retried: 400, 403, 404, 500, a timeout, an abort.
 */
export interface RetryOptions {
  /** Tries after the first one; default 3, at most 10. 0 turns retrying off, as does `retry: false`. */
  maxRetries?: number;
  /** The first wait; each further one doubles, with jitter. Default 200 ms. */
  baseDelayMs?: number;
  /** The longest backoff between two tries; default 5000 ms. A longer `Retry-After` is still honoured if it fits `maxElapsedMs`. */
  maxDelayMs?: number;
  /** The budget for the whole call, tries and waits included; default 30000 ms. No wait starts that would end past it. */
  maxElapsedMs?: number;
  /** Told about every retry before its wait (to log it, say). */
  onRetry?: (event: RetryEvent) => void;
}

/** What {@link RetryOptions.onRetry} is told. */
export interface RetryEvent {
  /** The try that just failed: 1 for the first. */
  attempt: number;
  /** How long the client waits before the next try. */
  delayMs: number;
  /** What failed: the HTTP status (`429`, `503`) or the network error code (`ECONNRESET`). */
  reason: string;
  error: Ds100AdminError;
}

export interface RetryPolicy {
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxElapsedMs: number;
  onRetry: ((event: RetryEvent) => void) | undefined;
}

/**
 * The retry policy a client has unless told otherwise: up to 3 retries, backoff from 200 ms
 * doubling to at most 5 s (with jitter), everything within 30 s.
 *
 * @example
 * ```ts
 * const client = await Ds100AdminClient.fromKeyFile(path, { retry: { ...DEFAULT_RETRY, maxRetries: 6 } });
 * ```
 */
export const DEFAULT_RETRY: Readonly<Required<Omit<RetryOptions, 'onRetry'>>> = { maxRetries: 3, baseDelayMs: 200, maxDelayMs: 5000, maxElapsedMs: 30_000 };

const RETRIED_STATUSES = new Set([429, 502, 503, 504]);
/** Network errors that mean "the peer dropped the connection", in Node's and undici's words. */
export const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

function check(name: string, value: number | undefined, min: number, max: number): void {
  if (value !== undefined && (!Number.isFinite(value) || value < min || value > max)) {
    throw new RangeError(`retry.${name} must be a number from ${min} to ${max}`);
  }
}

/**
 * The policy from the client's options, then the call's: an object overrides the fields it names
 * (and turns retrying back on); `false` turns it off.
 */
export function retryPolicy(...layers: Array<RetryOptions | false | undefined>): RetryPolicy {
  let policy: RetryPolicy = { ...DEFAULT_RETRY, onRetry: undefined };
  let off = false;
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (layer === false) {
      off = true;
      continue;
    }
    off = false;
    check('maxRetries', layer.maxRetries, 0, 10);
    check('baseDelayMs', layer.baseDelayMs, 0, 60_000);
    check('maxDelayMs', layer.maxDelayMs, 0, 600_000);
    check('maxElapsedMs', layer.maxElapsedMs, 0, 3_600_000);
    policy = {
      maxRetries: layer.maxRetries ?? policy.maxRetries,
      baseDelayMs: layer.baseDelayMs ?? policy.baseDelayMs,
      maxDelayMs: layer.maxDelayMs ?? policy.maxDelayMs,
      maxElapsedMs: layer.maxElapsedMs ?? policy.maxElapsedMs,
      onRetry: layer.onRetry ?? policy.onRetry,
    };
  }
  return off ? { ...policy, maxRetries: 0 } : policy;
}

/** Why an error may be retried (`"503"`, `"ECONNRESET"`), or undefined when it may not. */
export function retryReason(error: unknown): string | undefined {
  if (error instanceof ApiResponseError) return RETRIED_STATUSES.has(error.status) ? String(error.status) : undefined;
  if (error instanceof ConnectionError && error.errorCode && RESET_CODES.has(error.errorCode)) return error.errorCode;
  return undefined;
}

/**
 * The wait before try `attempt + 1`: exponential backoff with "equal jitter" (half fixed, half
 * random), or the server's `Retry-After` plus a little jitter when it asked for longer.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, error: unknown, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const backoff = exponential / 2 + random() * (exponential / 2);
  if (error instanceof RateLimitError && error.retryAfterMs !== undefined) {
    return Math.max(backoff, error.retryAfterMs + random() * Math.min(policy.baseDelayMs, 1000));
  }
  return backoff;
}

/** `Retry-After` as milliseconds: whole seconds, or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Waits `ms`, or rejects with a {@link RequestAbortedError} as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new RequestAbortedError({ cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new RequestAbortedError({ cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
