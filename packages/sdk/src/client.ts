import { X509Certificate, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  ConnectionError,
  Ds100AdminError,
  ForbiddenError,
  OAuthTokenError,
  RequestAbortedError,
  RequestTimeoutError,
  UnauthorizedError,
  UnexpectedResponseError,
  errorForReply,
} from './errors.ts';
import { loadKeyFile, parseKeyFile, parsePrivateKey, type KeyFile } from './keyfile.ts';
import { JWT_BEARER_ASSERTION, clientAssertion, loadJwkFile, parseJwk, type OAuthKey } from './oauth.ts';
import { parseRetryAfter, retryDelay, retryPolicy, retryReason, sleep, type RetryOptions } from './retry.ts';
import { exchange, makeAgents, type Agents, type Exchange } from './transport.ts';
import {
  ENDPOINTS,
  MAX_TOKEN_LIFETIME_SECONDS,
  REST_BASE_PATH,
  type ClearPinRequest,
  type ClearPinResponse,
  type CredentialResponse,
  type DeleteRequest,
  type LookupRequest,
  type OperationId,
  type SetStatusRequest,
  type StatusItemResponse,
  type UserLookupRequest,
  type UserResponse,
  type AdminLogEntry,
  type UserEventLogEntry,
} from './wire.ts';

export { MAX_TOKEN_LIFETIME_SECONDS };

/** A window of an event log: after `since` (exclusive) up to `until` (inclusive; default now). */
export interface EventLogWindow {
  since: Date | string;
  until?: Date | string;
  /** Events per request, 1 to 100 (default 100). */
  pageSize?: number;
}

/** Time for token minting: milliseconds since the epoch. Tests pass one they move by hand. */
export interface SdkClock {
  now(): number;
}

/** How a {@link Ds100AdminClient} is built when there is no key file at hand. */
export interface ClientOptions {
  /**
   * The admin REST URL, `{publicUrl}/AdminInterface/restapi` (a key file's `adminRestApiUrl`).
   * A bare origin (`https://admin.example.com`) or the REST URL with `/v1` is taken too and
   * completed to the REST URL.
   */
  baseUrl: string;
  /** The key's `accessID`: the token's `sub`. */
  accessId: string;
  /** The key's RSA private key: PEM (PKCS#1 or PKCS#8) or a `KeyObject`. */
  privateKey: string | KeyObject;
  /**
   * The token's `aud`; default: the REST URL of `baseUrl`. Set it when the server is reached at
   * another address than its public URL (a tunnel, a port forward).
   */
  audience?: string;
  /** Per-request timeout in milliseconds (each try); default 30000; 0 for none. */
  timeoutMs?: number;
  /** Retry policy, or `false` for none; default {@link DEFAULT_RETRY}. */
  retry?: RetryOptions | false;
  /** Lifetime of the tokens it signs, 120 to 3600 seconds; default 3600 (the most spec section 2 allows). */
  tokenLifetimeSeconds?: number;
  /** The clock tokens are minted and renewed by; default the system clock. */
  clock?: SdkClock;
  /** The `User-Agent` header; default `ds100-admin-sdk/<version>`. */
  userAgent?: string;
  /**
   * The CA certificate(s) to trust for an `https://` server, PEM (a string or a Buffer, several
   * concatenated are fine): e.g. the `ca.pem` of `serve --tls-self-signed`. It replaces the
   * default trusted CAs for this client, like `curl --cacert`; without it, Node's defaults and
   * `NODE_EXTRA_CA_CERTS` apply.
   */
  ca?: string | Buffer;
}

/**
 * How a {@link Ds100AdminClient} is built for an OAuth 2.0 client (contract 10): it gets its
 * access tokens from the token endpoint with a private-key JWT, instead of signing its own.
 */
export interface OAuthClientOptions extends Omit<ClientOptions, 'baseUrl' | 'accessId' | 'privateKey' | 'audience' | 'tokenLifetimeSeconds'> {
  /** The OAuth client's id (`oauth-clients create` prints it). */
  clientId: string;
  /** The authorization server's issuer, e.g. `https://admin.example.com/oauth`. */
  issuer: string;
  /** The client's private key as a JWK object (the file `oauth-clients create` writes, parsed). */
  jwk: object;
  /** The scopes to ask for (space-separated, or a list); default: every scope the client holds. */
  scope?: string | readonly string[];
  /** The REST URL (or origin) of the API; default: the issuer's origin and path without `/oauth`. */
  baseUrl?: string;
  /** The token endpoint; default `{issuer}/token`. */
  tokenEndpoint?: string;
}

/** Options of one call; they override the client's. */
export interface CallOptions {
  /** Cancels the call, during a request or a wait between tries ({@link RequestAbortedError}). */
  signal?: AbortSignal;
  /** Per-request timeout in milliseconds for this call; 0 for none. */
  timeoutMs?: number;
  /** Retry policy for this call: an object overrides the fields it names; `false` turns retrying off. */
  retry?: RetryOptions | false;
}

/**
 * The SDK's version, sent in its `User-Agent`: read once from the package's own package.json,
 * one folder up from this file both in the sources (src/) and in the build (dist/).
 */
export const SDK_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** A cached token is replaced this long before it expires. */
export const TOKEN_RENEWAL_MARGIN_SECONDS = 60;

const REST_SUFFIX = REST_BASE_PATH;

/**
 * The REST URL of a base URL: `https://h/AdminInterface/restapi` for `https://h`,
 * `https://h/AdminInterface/restapi/`, or `https://h/AdminInterface/restapi/v1`.
 *
 * @example
 * ```ts
 * restBaseUrl('https://admin.example.com'); // 'https://admin.example.com/AdminInterface/restapi'
 * ```
 */
export function restBaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`not an http or https URL: ${url}`);
  let path = u.pathname.replace(/\/+$/, '');
  if (path.toLowerCase().endsWith(`${REST_SUFFIX}/v1`.toLowerCase())) path = path.slice(0, -3);
  if (!path.toLowerCase().endsWith(REST_SUFFIX.toLowerCase())) path += REST_SUFFIX;
  return `${u.origin}${path}`;
}

interface CachedToken {
  token: string;
  /** Seconds since the epoch. */
  exp: number;
}

/** What the client needs of an OAuth client: its key, where to get tokens, and what to ask for. */
interface OAuthSource {
  key: OAuthKey;
  tokenEndpoint: string;
  scope: string | undefined;
}

/** The REST URL under an issuer `{publicUrl}/oauth`: the issuer without its last `/oauth`. */
function baseUrlOfIssuer(issuer: string): string {
  return issuer.replace(/\/+$/, '').replace(/\/oauth$/i, '');
}

type Shape = (typeof ENDPOINTS)[OperationId]['answer'];

const base64url = (json: object): string => Buffer.from(JSON.stringify(json)).toString('base64url');

/**
 * A client for the SecurID Cloud Administration API's DS100 endpoints, for this server or a
 * tenant of the vendor's cloud. It signs its own RS256 tokens from the key file (spec section 2),
 * reuses one until a minute before it expires (or the server refuses it as expired), retries
 * what is safe to retry, and throws typed
 * errors ({@link ApiResponseError} and its subclasses, {@link RequestTimeoutError}, ...).
 *
 * @example
 * ```ts
 * const client = await Ds100AdminClient.fromKeyFile('./help-desk.key');
 * const user = await client.lookupUser({ email: 'jane.doe@example.com' });
 * const items = await client.enableOtp({ deviceSerialNumber: '140100080', userId: user.id });
 * console.log(items[0]?.tokenStatus); // 'Enabled'
 * ```
 */
export class Ds100AdminClient {
  /** The REST URL requests go to, e.g. `https://admin.example.com/AdminInterface/restapi`. */
  readonly baseUrl: string;
  /** The key's access id: every token's `sub`. */
  readonly accessId: string;
  /** Every token's `aud`. */
  readonly audience: string;
  readonly #key: KeyObject | undefined;
  readonly #oauth: OAuthSource | undefined;
  readonly #clock: SdkClock;
  readonly #lifetime: number;
  readonly #timeoutMs: number;
  readonly #retry: RetryOptions | false | undefined;
  readonly #userAgent: string;
  readonly #agents: Agents;
  #cached: CachedToken | undefined;
  #minting: Promise<CachedToken> | undefined;

  /**
   * A client from its parts. Throws a {@link KeyFileError} if the private key is unusable and a
   * `TypeError`/`RangeError` for a bad URL or option.
   *
   * @example
   * ```ts
   * const client = new Ds100AdminClient({
   *   baseUrl: 'https://admin.example.com/AdminInterface/restapi',
   *   accessId: '139f6495-e447-4a26-a765-5c01b6b152d5',
   *   privateKey: readFileSync('private.pem', 'utf8'),
   *   retry: { maxRetries: 5 },
   *   ca: readFileSync('ca.pem'), // only for a server whose certificate a private CA signed
   * });
   * ```
   */
  constructor(options: ClientOptions | OAuthClientOptions) {
    if ('clientId' in options) {
      if (typeof options.clientId !== 'string' || options.clientId === '') throw new TypeError('clientId must be a non-empty string');
      if (typeof options.issuer !== 'string' || options.issuer === '') throw new TypeError('issuer must be a non-empty string');
      const issuer = options.issuer.replace(/\/+$/, '');
      restBaseUrl(issuer); // validates
      this.baseUrl = restBaseUrl(options.baseUrl ?? baseUrlOfIssuer(issuer));
      this.accessId = options.clientId;
      this.audience = this.baseUrl;
      this.#key = undefined;
      const scope = typeof options.scope === 'string' ? options.scope : options.scope?.join(' ');
      this.#oauth = { key: parseJwk(options.jwk), tokenEndpoint: options.tokenEndpoint ?? `${issuer}/token`, scope: scope || undefined };
      this.#lifetime = MAX_TOKEN_LIFETIME_SECONDS;
    } else {
      if (typeof options.accessId !== 'string' || options.accessId === '') throw new TypeError('accessId must be a non-empty string');
      this.baseUrl = restBaseUrl(options.baseUrl);
      this.accessId = options.accessId;
      this.audience = options.audience ?? this.baseUrl;
      this.#key = parsePrivateKey(options.privateKey, 'privateKey');
      this.#oauth = undefined;
      const lifetime = options.tokenLifetimeSeconds ?? MAX_TOKEN_LIFETIME_SECONDS;
      if (!Number.isInteger(lifetime) || lifetime < 2 * TOKEN_RENEWAL_MARGIN_SECONDS || lifetime > MAX_TOKEN_LIFETIME_SECONDS) {
        throw new RangeError(`tokenLifetimeSeconds must be a whole number from ${2 * TOKEN_RENEWAL_MARGIN_SECONDS} to ${MAX_TOKEN_LIFETIME_SECONDS}`);
      }
      this.#lifetime = lifetime;
    }
    this.#clock = options.clock ?? { now: () => Date.now() };
    this.#timeoutMs = checkTimeout(options.timeoutMs ?? 30_000);
    retryPolicy(options.retry); // validates
    this.#retry = options.retry;
    this.#userAgent = options.userAgent ?? `ds100-admin-sdk/${SDK_VERSION}`;
    this.#agents = makeAgents(checkCa(options.ca));
  }

  /**
   * A client from a key file: a path to `<accessID>.key`, or its parsed contents. `baseUrl`
   * in `options` overrides the file's `adminRestApiUrl`.
   *
   * @example
   * ```ts
   * const client = await Ds100AdminClient.fromKeyFile('./data/keys/139f6495-e447-4a26-a765-5c01b6b152d5.key', {
   *   timeoutMs: 10_000,
   *   ca: readFileSync('./data/tls/ca.pem'), // a server started with --tls-self-signed
   * });
   * ```
   */
  static async fromKeyFile(
    keyFile: string | KeyFile,
    options: Partial<Omit<ClientOptions, 'accessId' | 'privateKey'>> = {},
  ): Promise<Ds100AdminClient> {
    const file = typeof keyFile === 'string' ? await loadKeyFile(keyFile) : parseKeyFile(keyFile);
    return new Ds100AdminClient({ ...options, baseUrl: options.baseUrl ?? file.adminRestApiUrl, accessId: file.accessID, privateKey: file.accessKey });
  }

  /**
   * A client of an OAuth 2.0 client (contract 10): it gets an access token from the token endpoint
   * with a private-key JWT assertion (RS256 or ES256, by the JWK) signed here, keeps it until a
   * minute before it expires, and on a 401 gets a new one and tries the call once more. Give the
   * JWK file `ds100-admin oauth-clients create` wrote (`jwkFile`) or its parsed contents (`jwk`).
   *
   * @example
   * ```ts
   * const client = await Ds100AdminClient.fromOAuthClient({
   *   jwkFile: './data/oauth-clients/94981add-93d5-42ff-a285-193f843ad11b.json',
   *   clientId: '94981add-93d5-42ff-a285-193f843ad11b',
   *   issuer: 'https://admin.example.com/oauth',
   *   scope: 'rsa.authenticator.ds100.read rsa.user.read',
   * });
   * const records = await client.lookupDs100({ deviceSerialNumber: '140100080' });
   * ```
   */
  static async fromOAuthClient(
    options: Omit<OAuthClientOptions, 'jwk'> & ({ jwk: object; jwkFile?: undefined } | { jwkFile: string; jwk?: undefined }),
  ): Promise<Ds100AdminClient> {
    if (options.jwkFile !== undefined) {
      const { jwkFile, ...rest } = options;
      return new Ds100AdminClient({ ...rest, jwk: await loadJwkFile(jwkFile) });
    }
    return new Ds100AdminClient(options as OAuthClientOptions);
  }

  /**
   * The bearer token the next request carries: the cached one, or a new one when there is none
   * or it expires within a minute, or the server refused it as expired. Claims: `sub` (access id), `iat`, `exp` (`iat` + lifetime),
   * `aud` (the REST URL); header `{"alg": "RS256", "typ": "JWT"}`.
   *
   * @example
   * ```ts
   * const token = await client.token();
   * await fetch(`${client.baseUrl}/v1/ds100/lookup`, {
   *   method: 'POST',
   *   headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
   *   body: JSON.stringify({ deviceSerialNumber: '140100080' }),
   * });
   * ```
   */
  async token(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
    const now = this.#clock.now() / 1000;
    if (this.#cached && now < this.#cached.exp - TOKEN_RENEWAL_MARGIN_SECONDS) return this.#cached.token;
    this.#minting ??= (this.#oauth ? this.#fetchToken(this.#oauth, options.timeoutMs ?? this.#timeoutMs, options.signal) : this.#mint()).finally(() => {
      this.#minting = undefined;
    });
    return (await this.#minting).token;
  }

  /** An access token from the token endpoint (RFC 6749 §4.4 with RFC 7523 client authentication). */
  async #fetchToken(oauth: OAuthSource, timeoutMs: number, signal: AbortSignal | undefined): Promise<CachedToken> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER_ASSERTION,
      client_assertion: clientAssertion(oauth.key, this.accessId, oauth.tokenEndpoint, this.#clock.now()),
      client_id: this.accessId,
      ...(oauth.scope ? { scope: oauth.scope } : {}),
    });
    const { status, header, text } = await this.#send(
      oauth.tokenEndpoint,
      { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': this.#userAgent }, body: form.toString() },
      timeoutMs,
      signal,
    );
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const requestId = header('x-request-id');
    if (status !== 200) {
      const reply = { status, requestId, body: parsed, text: text.slice(0, 2000), retryAfterMs: parseRetryAfter(header('retry-after') ?? null) };
      const body = parsed as { error?: unknown } | undefined;
      // A 429 or 5xx without an OAuth body (a proxy's) is retried like any other.
      throw typeof body?.error === 'string' ? new OAuthTokenError(reply) : errorForReply(reply);
    }
    const answer = parsed as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (typeof answer?.access_token !== 'string' || typeof answer.expires_in !== 'number') {
      throw new UnexpectedResponseError(`the token endpoint ${oauth.tokenEndpoint} answered 200 without an access_token and expires_in`, status, requestId);
    }
    this.#cached = { token: answer.access_token, exp: Math.floor(this.#clock.now() / 1000) + answer.expires_in };
    return this.#cached;
  }

  async #mint(): Promise<CachedToken> {
    const key = this.#key!;
    const iat = Math.floor(this.#clock.now() / 1000);
    const exp = iat + this.#lifetime;
    const signingInput = `${base64url({ alg: 'RS256', typ: 'JWT' })}.${base64url({ sub: this.accessId, iat, exp, aud: this.audience })}`;
    const signature = sign('sha256', Buffer.from(signingInput), key).toString('base64url');
    this.#cached = { token: `${signingInput}.${signature}`, exp };
    return this.#cached;
  }

  /**
   * Enables the OTP credential of a user's DS100 (spec 4.1): `PATCH /v1/ds100/enable/otp`.
   * Resolves to the status items of the device's credentials for that user. Enabling an enabled
   * credential changes nothing and still succeeds. {@link NotFoundError} if there is no such user
   * or the device is not registered to them.
   *
   * @example
   * ```ts
   * const items = await client.enableOtp({ deviceSerialNumber: '140100080', userId: 'ece30fe9-414c-7536-5403-0656220b3046' });
   * // [{ userId, tokenSerialNumber: '014010008031', tokenStatus: 'Enabled', tokenStatusChangedAt, tokenStatusChangedBy, deviceSerialNumber }]
   * ```
   */
  enableOtp(request: SetStatusRequest, options?: CallOptions): Promise<StatusItemResponse[]> {
    return this.#call('enableOtp', request, options) as Promise<StatusItemResponse[]>;
  }

  /**
   * Disables the OTP credential of a user's DS100 (spec 4.2): `PATCH /v1/ds100/disable/otp`.
   * Same rules and answer as {@link enableOtp}, with `tokenStatus: 'Disabled'`.
   *
   * @example
   * ```ts
   * const [item] = await client.disableOtp({ deviceSerialNumber: '140100080', userId });
   * console.log(item?.tokenStatus, item?.tokenStatusChangedBy); // 'Disabled', your access id
   * ```
   */
  disableOtp(request: SetStatusRequest, options?: CallOptions): Promise<StatusItemResponse[]> {
    return this.#call('disableOtp', request, options) as Promise<StatusItemResponse[]>;
  }

  /**
   * Deletes the OTP credential of a user's DS100 (spec 4.3): `DELETE /v1/ds100/delete/otp` with a
   * JSON body. The three serials and the user must describe one credential, else
   * {@link NotFoundError}. If a retried try follows a connection reset, the first may have done
   * the work and the retry then finds nothing: treat a 404 after a `ECONNRESET` retry with care.
   *
   * @example
   * ```ts
   * await client.deleteOtp({ tokenSerialNumber: '014010008038', deviceSerialNumber: '140100080', userId });
   * ```
   */
  async deleteOtp(request: DeleteRequest, options?: CallOptions): Promise<void> {
    await this.#call('deleteOtp', request, options);
  }

  /**
   * Clears the PIN of a user's OTP credential (spec 4.4): `PATCH /v1/ds100/clearPin/otp`.
   * {@link NotFoundError} unless the credential belongs to the user.
   *
   * @example
   * ```ts
   * const { pinSet } = await client.clearPin({ tokenSerialNumber: '014010008039', userId });
   * console.log(pinSet); // false
   * ```
   */
  clearPin(request: ClearPinRequest, options?: CallOptions): Promise<ClearPinResponse> {
    return this.#call('clearPin', request, options) as Promise<ClearPinResponse>;
  }

  /**
   * The OTP credential records of a DS100, whoever they are registered to (spec 4.5):
   * `POST /v1/ds100/lookup`. {@link NotFoundError} when the device has none.
   *
   * @example
   * ```ts
   * for (const c of await client.lookupDs100({ deviceSerialNumber: '140100080' })) {
   *   console.log(c.tokenSerialNumber, c.userId, c.tokenStatus, c.pinSet);
   * }
   * ```
   */
  lookupDs100(request: LookupRequest, options?: CallOptions): Promise<CredentialResponse[]> {
    return this.#call('lookupDs100', request, options) as Promise<CredentialResponse[]>;
  }

  /**
   * A user by e-mail address, matched without regard to case (spec 5): `POST /v1/users/lookup`.
   * This is how an address becomes the `userId` the DS100 calls take. {@link NotFoundError} if
   * there is none.
   *
   * @example
   * ```ts
   * const { id } = await client.lookupUser({ email: 'Jane.Doe@example.com' });
   * ```
   */
  lookupUser(request: UserLookupRequest, options?: CallOptions): Promise<UserResponse> {
    return this.#call('lookupUser', request, options) as Promise<UserResponse>;
  }

  /**
   * The administration event log of a window (contract 11), oldest first, one event at a time:
   * the pages are asked for as the loop needs them, until one comes back empty. The window's end
   * (default: now) is fixed at the first page, so paging returns each event once while new ones
   * are written; a collector then starts its next window after that end.
   *
   * @example
   * ```ts
   * for await (const event of client.adminLog({ since: new Date(Date.now() - 3600_000) })) {
   *   console.log(event.eventLogDate, event.activityKey, event.message);
   * }
   * ```
   */
  adminLog(window: EventLogWindow, options?: CallOptions): AsyncGenerator<AdminLogEntry> {
    return this.#export<AdminLogEntry>('exportAdminLog', 'elements', window, options);
  }

  /** The user event log of a window, as {@link adminLog} reads the administration log. */
  userEventLog(window: EventLogWindow, options?: CallOptions): AsyncGenerator<UserEventLogEntry> {
    return this.#export<UserEventLogEntry>('exportUserEventLog', 'userEventLogExportEntries', window, options);
  }

  async *#export<T>(operation: OperationId, key: string, window: EventLogWindow, options?: CallOptions): AsyncGenerator<T> {
    const time = (t: Date | string) => (typeof t === 'string' ? t : t.toISOString());
    const start = time(window.since);
    const end = time(window.until ?? new Date());
    const size = window.pageSize ?? 100;
    for (let pageNumber = 0; ; pageNumber++) {
      const query = `?startTimeAfter=${encodeURIComponent(start)}&endTimeOnOrBefore=${encodeURIComponent(end)}&pageNumber=${pageNumber}&pageSize=${size}`;
      const page = (await this.#call(operation, undefined, options, query)) as Record<string, unknown>;
      const items = page[key];
      if (!Array.isArray(items)) throw new UnexpectedResponseError(`${ENDPOINTS[operation].path} answered without its ${key} array`, 200, undefined);
      if (items.length === 0) return;
      yield* items as T[];
    }
  }

  async #call(operation: OperationId, body: unknown, options: CallOptions = {}, query = ''): Promise<unknown> {
    const { method, path: base, answer } = ENDPOINTS[operation];
    const path = `${base}${query}`;
    const policy = retryPolicy(this.#retry, options.retry);
    const timeoutMs = options.timeoutMs === undefined ? this.#timeoutMs : checkTimeout(options.timeoutMs);
    const started = performance.now();
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once(method, path, body, answer, timeoutMs, options.signal);
      } catch (error) {
        // An OAuth client's token refused: a new one, and the call once more (contract 10).
        if (error instanceof UnauthorizedError && this.#oauth && !renewed) {
          renewed = true;
          attempt--;
          continue;
        }
        const reason = retryReason(error);
        if (reason === undefined || attempt > policy.maxRetries) throw error;
        const delayMs = Math.round(retryDelay(policy, attempt, error));
        if (performance.now() - started + delayMs > policy.maxElapsedMs) throw error;
        policy.onRetry?.({ attempt, delayMs, reason, error: error as Ds100AdminError });
        await sleep(delayMs, options.signal);
      }
    }
  }

  /** One HTTP exchange, with the per-request timeout and the caller's signal; network failures typed. */
  async #send(
    url: string,
    init: { method: string; headers: Record<string, string>; body?: string },
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Exchange> {
    if (signal?.aborted) throw new RequestAbortedError({ cause: signal.reason });
    const controller = new AbortController();
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs)
        : undefined;
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await exchange(url, { ...init, signal: controller.signal, agents: this.#agents });
    } catch (error) {
      if (signal?.aborted) throw new RequestAbortedError({ cause: signal.reason });
      if (timedOut) throw new RequestTimeoutError(timeoutMs, { cause: error });
      throw connectionError(error, url.startsWith(this.baseUrl) ? this.baseUrl : url);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #once(method: string, path: string, body: unknown, shape: Shape, timeoutMs: number, signal: AbortSignal | undefined): Promise<unknown> {
    if (signal?.aborted) throw new RequestAbortedError({ cause: signal.reason });
    const token = await this.token({ timeoutMs, signal });
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
      ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
      'user-agent': this.#userAgent,
    };
    const answer = await this.#send(
      `${this.baseUrl}${path}`,
      { method, headers, ...(method === 'GET' ? {} : { body: JSON.stringify(body) }) },
      timeoutMs,
      signal,
    );
    const { status, text } = answer;
    const requestId = answer.header('x-request-id');
    if (status >= 300 || status < 200) {
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      const location = answer.header('location');
      const reply = {
        status,
        requestId,
        body: parsed,
        text: location && status < 400 ? `redirected to ${location}: use that as the base URL` : text.slice(0, 2000),
        retryAfterMs: parseRetryAfter(answer.header('retry-after') ?? null),
      };
      const error = errorForReply(reply);
      // The server's clock has the token expired while ours does not, or (OAuth) the server no
      // longer takes it: a new one next time.
      const stale = (error instanceof ForbiddenError && error.reason === 'expired') || error instanceof UnauthorizedError;
      if (stale && this.#cached?.token === token) this.#cached = undefined;
      throw error;
    }
    if (shape === 'empty') return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new UnexpectedResponseError(`${method} ${path} answered ${status} with a body that is not JSON`, status, requestId);
    }
    const ok = shape === 'array' ? Array.isArray(value) : typeof value === 'object' && value !== null && !Array.isArray(value);
    if (!ok) throw new UnexpectedResponseError(`${method} ${path} answered ${status} without the JSON ${shape} it documents`, status, requestId);
    return value;
  }
}

function checkTimeout(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0 || ms > 2_147_483_647) throw new RangeError('timeoutMs must be a number of milliseconds from 0 (none) to 2147483647');
  return ms;
}

/** The network error code of a failed request: on the error itself, in its `cause`, or in an AggregateError's first error. */
function networkCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e; depth++) {
    const c = e as { code?: unknown; errors?: unknown[]; cause?: unknown };
    if (typeof c.code === 'string') return c.code;
    if (Array.isArray(c.errors) && c.errors.length > 0) {
      const first = c.errors[0] as { code?: unknown };
      if (typeof first?.code === 'string') return first.code;
    }
    e = c.cause;
  }
  return undefined;
}

/** OpenSSL's codes for a server certificate that no trusted CA vouches for. */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
]);

function connectionError(error: unknown, baseUrl: string): ConnectionError {
  const code = networkCode(error);
  const detail = (error as { cause?: { message?: string } })?.cause?.message ?? (error as Error)?.message ?? String(error);
  const hint =
    code && UNTRUSTED_CERTIFICATE.has(code)
      ? "; the server's certificate is not signed by a CA this client trusts: give the client that CA (SDK option `ca`, CLI --ca FILE, or NODE_EXTRA_CA_CERTS)"
      : '';
  return new ConnectionError(`cannot reach ${baseUrl}: ${code ?? detail}${code && detail !== code ? ` (${detail})` : ''}${hint}`, code, { cause: error });
}

/** `ca` as given, once checked to hold a PEM certificate (a `TypeError` otherwise). */
function checkCa(ca: string | Buffer | undefined): string | Buffer | undefined {
  if (ca === undefined) return undefined;
  if (typeof ca !== 'string' && !Buffer.isBuffer(ca)) throw new TypeError('ca must be a PEM string or a Buffer');
  try {
    new X509Certificate(ca);
  } catch {
    throw new TypeError('ca holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  }
  return ca;
}
