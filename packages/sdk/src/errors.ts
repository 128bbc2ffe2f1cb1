import { STATUS_CODES } from 'node:http';
import type { ErrorResponse, ForbiddenResponse } from './wire.ts';

/**
 * The base of every error the SDK throws, so that one `instanceof` tells the SDK's failures from
 * any other.
 *
 * @example
 * ```ts
 * try {
 *   await client.enableOtp({ deviceSerialNumber: '140100080', userId });
 * } catch (e) {
 *   if (e instanceof Ds100AdminError) console.error(e.message);
 *   else throw e;
 * }
 * ```
 */
export class Ds100AdminError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** What the server answered, as far as an error needs it. */
export interface ErrorReply {
  status: number;
  /** The `X-Request-Id` header: quote it to the server's operator, it finds the log line. */
  requestId: string | undefined;
  /** The body parsed as JSON; undefined when it was empty or not JSON. */
  body: unknown;
  /** The body as text (at most 2000 characters kept). */
  text: string;
  /** `Retry-After` in milliseconds, when the answer had one. */
  retryAfterMs: number | undefined;
}

/**
 * The server answered with an error status. `code` and `description` come from the application
 * error body (`{"code": "404 NOT_FOUND", "description": "User … not found"}`); a 403 in the
 * Spring Boot shape, or a body that is not JSON (a proxy's 502 page), is mapped onto the same
 * two fields. Subclasses name the common statuses.
 *
 * @example
 * ```ts
 * try {
 *   await client.lookupDs100({ deviceSerialNumber: '999' });
 * } catch (e) {
 *   if (e instanceof ApiResponseError) console.error(e.status, e.code, e.description, e.requestId);
 * }
 * ```
 */
export class ApiResponseError extends Ds100AdminError {
  /** The HTTP status, e.g. 404. */
  readonly status: number;
  /** The status and its reason phrase in upper snake case, e.g. `404 NOT_FOUND`. */
  readonly code: string;
  /** What the server said went wrong, e.g. `User jane@example.com not found`. */
  readonly description: string;
  /** The `X-Request-Id` of the answer, when it had one. */
  readonly requestId: string | undefined;
  /** The error body as parsed JSON (the application error or the Spring 403 shape), or undefined. */
  readonly body: unknown;

  constructor(reply: ErrorReply) {
    const { code, description } = describeReply(reply);
    super(`${code}: ${description}${reply.requestId ? ` (request ${reply.requestId})` : ''}`);
    this.status = reply.status;
    this.code = code;
    this.description = description;
    this.requestId = reply.requestId;
    this.body = reply.body;
  }
}

/**
 * 400: the request was refused as malformed (a missing or extra property, a value over 36
 * characters, ...). Never retried.
 *
 * @example
 * ```ts
 * await client.lookupDs100({ deviceSerialNumber: 'x'.repeat(37) }).catch((e) => {
 *   if (e instanceof BadRequestError) console.error(e.description); // Invalid value for property 'deviceSerialNumber': ...
 * });
 * ```
 */
export class BadRequestError extends ApiResponseError {}

/**
 * Why a 403 was given, as its message tells (the vendor's service words them the same way):
 * - `expired`: the token is past its `exp` (`Expired Access Token is not allowed`). The client
 *   drops its token and signs a new one on the next call; if that is refused too, this machine's
 *   clock is far off;
 * - `audience`: the token's `aud` does not name the server (`Invalid audience`): check `baseUrl`
 *   or the `audience` option;
 * - `accessId`: no key with this access id (`Invalid Access Id`): deleted, or the wrong key file;
 * - `role`: the key's role (or the OAuth access token's scopes) may not call this endpoint
 *   (`Not authorized to perform the request.`);
 * - `token`: the token was refused for another reason (signature, form, lifetime);
 * - undefined: a 403 this SDK does not recognise (e.g. from a proxy).
 */
export type ForbiddenReason = 'expired' | 'audience' | 'accessId' | 'role' | 'token';

function forbiddenReason(message: string | undefined): ForbiddenReason | undefined {
  if (message === undefined) return undefined;
  if (message === 'Expired Access Token is not allowed') return 'expired';
  // Matched as the vendor's own clients match them: the service adds detail around these words.
  if (message.includes('Invalid audience')) return 'audience';
  if (message.includes('Access Id')) return 'accessId';
  if (message === 'Not authorized to perform the request.') return 'role';
  if (message === 'Server failed to process provided access token') return 'token';
  return undefined;
}

/**
 * 403: the token was refused (expired, unknown or deleted key, wrong audience, bad signature) or
 * the key's role may not call this endpoint. The server answers these in the Spring Boot shape;
 * its `message` is this error's `description`, `reason` says which case it is, and `path` and
 * `timestamp` are kept. Never retried; after an `expired` one the client signs a fresh token for
 * its next call.
 *
 * @example
 * ```ts
 * await client.enableOtp({ deviceSerialNumber, userId }).catch((e) => {
 *   if (!(e instanceof ForbiddenError)) throw e;
 *   if (e.reason === 'expired') return client.enableOtp({ deviceSerialNumber, userId }); // re-signed
 *   if (e.reason === 'accessId') console.error('this key was deleted: ask for a new key file');
 *   else console.error(e.description); // e.g. Not authorized to perform the request.
 * });
 * ```
 */
export class ForbiddenError extends ApiResponseError {
  /** The `path` of the Spring body, when there was one. */
  readonly path: string | undefined;
  /** The `timestamp` of the Spring body (epoch milliseconds), when there was one. */
  readonly timestamp: number | undefined;
  /** Which refusal this is, from the body's `message`; undefined for a 403 the SDK does not recognise. */
  readonly reason: ForbiddenReason | undefined;
  constructor(reply: ErrorReply) {
    super(reply);
    const b = reply.body as Partial<ForbiddenResponse> | undefined;
    this.path = typeof b?.path === 'string' ? b.path : undefined;
    this.timestamp = typeof b?.timestamp === 'number' ? b.timestamp : undefined;
    this.reason = forbiddenReason(typeof b?.message === 'string' ? b.message : undefined);
  }
}

/**
 * 401: the OAuth access token was refused (malformed, expired, of a deleted client, signed by a
 * retired key). A client built with {@link Ds100AdminClient.fromOAuthClient} gets a new token
 * and tries the call once more before this reaches the caller.
 *
 * @example
 * ```ts
 * await client.lookupDs100({ deviceSerialNumber }).catch((e) => {
 *   if (e instanceof UnauthorizedError) console.error('the OAuth client was deleted, or its key replaced');
 * });
 * ```
 */
export class UnauthorizedError extends ApiResponseError {}

/**
 * The token endpoint refused to issue an access token (RFC 6749 §5.2): `error` is its code
 * (`invalid_client`: the client id, its key or the issuer is wrong, or the client was deleted;
 * `invalid_scope`: a scope it does not hold; ...), `errorDescription` its words.
 *
 * @example
 * ```ts
 * await client.lookupUser({ email }).catch((e) => {
 *   if (e instanceof OAuthTokenError && e.error === 'invalid_scope') console.error(e.errorDescription);
 * });
 * ```
 */
export class OAuthTokenError extends ApiResponseError {
  /** The RFC 6749 error code, e.g. `invalid_client`. */
  readonly error: string;
  /** The server's `error_description`. */
  readonly errorDescription: string;
  constructor(reply: ErrorReply) {
    super(reply);
    const b = (reply.body ?? {}) as { error?: unknown; error_description?: unknown };
    this.error = typeof b.error === 'string' ? b.error : 'invalid_response';
    this.errorDescription = typeof b.error_description === 'string' ? b.error_description : this.description;
  }
}

/**
 * 404: no such user, device or credential (the description says which). Never retried.
 *
 * @example
 * ```ts
 * const user = await client.lookupUser({ email }).catch((e) => {
 *   if (e instanceof NotFoundError) return null;
 *   throw e;
 * });
 * ```
 */
export class NotFoundError extends ApiResponseError {}

/**
 * 429: too many requests. Thrown once the retries allowed for it are spent (or when retrying is
 * off); `retryAfterMs` is the server's `Retry-After`.
 *
 * @example
 * ```ts
 * await client.lookupDs100({ deviceSerialNumber }, { retry: false }).catch((e) => {
 *   if (e instanceof RateLimitError) console.error(`try again in ${e.retryAfterMs} ms`);
 * });
 * ```
 */
export class RateLimitError extends ApiResponseError {
  /** The answer's `Retry-After`, in milliseconds, when it had one. */
  readonly retryAfterMs: number | undefined;
  constructor(reply: ErrorReply) {
    super(reply);
    this.retryAfterMs = reply.retryAfterMs;
  }
}

/**
 * 5xx: the server (or a gateway in front of it) failed. 502, 503 and 504 are retried first; a 500
 * is not, since the same request would most likely fail the same way.
 *
 * @example
 * ```ts
 * await client.enableOtp(request).catch((e) => {
 *   if (e instanceof ServerError) console.error(`server failed (${e.status}), request ${e.requestId}`);
 * });
 * ```
 */
export class ServerError extends ApiResponseError {}

/**
 * No answer within the per-request timeout (`timeoutMs`). Not retried: the request may have been
 * carried out.
 *
 * @example
 * ```ts
 * await client.lookupDs100({ deviceSerialNumber }, { timeoutMs: 2000 }).catch((e) => {
 *   if (e instanceof RequestTimeoutError) console.error(`no answer in ${e.timeoutMs} ms`);
 * });
 * ```
 */
export class RequestTimeoutError extends Ds100AdminError {
  constructor(
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`no answer from the server within ${timeoutMs} ms`, options);
  }
}

/**
 * The caller's `AbortSignal` fired, during a request or while waiting to retry. `cause` is the
 * signal's reason.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * setTimeout(() => controller.abort(), 5000);
 * await client.lookupDs100({ deviceSerialNumber }, { signal: controller.signal }).catch((e) => {
 *   if (e instanceof RequestAbortedError) console.error('cancelled');
 * });
 * ```
 */
export class RequestAbortedError extends Ds100AdminError {
  constructor(options?: { cause?: unknown }) {
    super('the request was aborted', options);
  }
}

/**
 * The server could not be reached or dropped the connection (refused, reset, DNS failure, TLS
 * failure), after any retries allowed. `cause` is the network error; `errorCode` its code when it
 * had one (`ECONNREFUSED`, `ECONNRESET`, `ENOTFOUND`, ...).
 *
 * @example
 * ```ts
 * await client.lookupDs100({ deviceSerialNumber }).catch((e) => {
 *   if (e instanceof ConnectionError) console.error(`cannot reach the server: ${e.errorCode}`);
 * });
 * ```
 */
export class ConnectionError extends Ds100AdminError {
  constructor(
    message: string,
    readonly errorCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The server answered 2xx with a body this SDK cannot read (not JSON, or not the shape the
 * endpoint documents): most likely the base URL points at something that is not this API.
 *
 * @example
 * ```ts
 * await client.lookupDs100({ deviceSerialNumber }).catch((e) => {
 *   if (e instanceof UnexpectedResponseError) console.error(`is ${client.baseUrl} right? ${e.message}`);
 * });
 * ```
 */
export class UnexpectedResponseError extends Ds100AdminError {
  constructor(
    message: string,
    readonly status: number,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

/**
 * The key file (or the `privateKey` given to the client) cannot be used. `field` names the
 * property that is missing or broken (`accessKey`, `accessID`, `adminRestApiUrl`, ...), or is
 * undefined when the file itself cannot be read or is not a JSON object.
 *
 * @example
 * ```ts
 * try {
 *   await loadKeyFile('./help-desk.key');
 * } catch (e) {
 *   if (e instanceof KeyFileError) console.error(`${e.path}: ${e.field ?? 'file'}: ${e.message}`);
 * }
 * ```
 */
export class KeyFileError extends Ds100AdminError {
  constructor(
    message: string,
    readonly field: string | undefined,
    readonly path: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `404 NOT_FOUND` for 404: the form the API's `code` takes. */
export function statusCodeText(status: number): string {
  const phrase = STATUS_CODES[status] ?? 'Error';
  return `${status} ${phrase.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

function describeReply(reply: ErrorReply): { code: string; description: string } {
  const b = reply.body;
  if (typeof b === 'object' && b !== null && !Array.isArray(b)) {
    const oauth = b as { error?: unknown; error_description?: unknown };
    if (typeof oauth.error === 'string' && typeof oauth.error_description === 'string') {
      return { code: statusCodeText(reply.status), description: `${oauth.error}: ${oauth.error_description}` };
    }
    const app = b as Partial<ErrorResponse>;
    if (typeof app.code === 'string' && typeof app.description === 'string') return { code: app.code, description: app.description };
    const spring = b as Partial<ForbiddenResponse> & { error?: unknown };
    if (typeof spring.message === 'string') return { code: statusCodeText(reply.status), description: spring.message };
    if (typeof spring.error === 'string') return { code: statusCodeText(reply.status), description: spring.error };
  }
  const text = reply.text.trim();
  const plain = text && !text.startsWith('<') && text.length <= 300 ? text : undefined;
  return { code: statusCodeText(reply.status), description: plain ?? STATUS_CODES[reply.status] ?? `HTTP ${reply.status}` };
}

/** The typed error for an error answer. */
export function errorForReply(reply: ErrorReply): ApiResponseError {
  switch (reply.status) {
    case 400:
      return new BadRequestError(reply);
    case 401:
      return new UnauthorizedError(reply);
    case 403:
      return new ForbiddenError(reply);
    case 404:
      return new NotFoundError(reply);
    case 429:
      return new RateLimitError(reply);
    default:
      return reply.status >= 500 ? new ServerError(reply) : new ApiResponseError(reply);
  }
}
