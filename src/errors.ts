import { STATUS_CODES } from 'node:http';

/**
 * The one catalog of every error ds100-admin reports, to an HTTP client or to an operator at the
 * command line. Each entry is made once here: its HTTP status, and the description (a string, or
 * a function of the values it names). Nothing else in the code writes an error message.
 *
 * The wire carries three shapes: application errors as `{code, description}` and
 * authentication/authorization refusals as a Spring Boot style body (spec section 1), `kind:
 * 'forbidden'` for the 403s, `kind: 'unauthorized'` for the 401 of a refused OAuth access token;
 * and the token endpoint's RFC 6749 §5.2 errors `{error, error_description}`, `kind: 'oauth'`
 * with the error code in `oauth`.
 */
const catalog = {
  // 400: the request itself is wrong. None of these changes anything.
  WRONG_PROPERTY_COUNT: { status: 400, description: 'Wrong number of properties in the request body.' },
  INVALID_PROPERTY: {
    status: 400,
    description: (name: string, rule: string) => `Invalid value for property '${name}': ${rule}.`,
  },
  // Contract 11: the event log exports' query parameters.
  QUERY_PARAMETER: {
    status: 400,
    description: (name: string, rule: string) => `Invalid value for query parameter '${name}': ${rule}.`,
  },
  QUERY_PLUS_AS_SPACE: {
    status: 400,
    description: (name: string) =>
      `Invalid value for query parameter '${name}': the '+' of its offset arrived as a space; send it percent-encoded, as %2B.`,
  },
  WINDOW_REVERSED: { status: 400, description: 'startTimeAfter must not be later than endTimeOnOrBefore.' },
  BODY_NOT_OBJECT: { status: 400, description: 'The request body must be a JSON object.' },
  BODY_NOT_JSON: { status: 400, description: 'The request body is not valid JSON.' },
  UNSUPPORTED_CONTENT_TYPE: { status: 400, description: 'The request body must be sent as application/json.' },
  BODY_TOO_LARGE: { status: 413, description: 'The request body is larger than 16384 bytes.' },
  // Refused by the HTTP layer before routing: a URL that does not decode, a request that is not
  // HTTP, headers over Node's 16 KiB, a request that did not arrive in time.
  BAD_URL: { status: 400, description: 'The request URL is not valid.' },
  BAD_HTTP_REQUEST: { status: 400, description: 'The request is not valid HTTP.' },
  HEADERS_TOO_LARGE: { status: 431, description: 'The request headers are larger than 16384 bytes.' },
  REQUEST_TIMEOUT: { status: 408, description: 'The request was not received in time.' },
  EXPECTATION_FAILED: { status: 417, description: "The only expectation supported is 'Expect: 100-continue'." },

  // 403: both shapes of refusal. A refused token is told one of four messages, which the
  // vendor's clients read (the Splunk add-on re-signs on TOKEN_EXPIRED, and names the setting to
  // fix on the next two); the full reason goes to the log only.
  TOKEN_REFUSED: { status: 403, kind: 'forbidden', description: 'Server failed to process provided access token' },
  TOKEN_EXPIRED: { status: 403, kind: 'forbidden', description: 'Expired Access Token is not allowed' },
  TOKEN_AUDIENCE: { status: 403, kind: 'forbidden', description: 'Invalid audience' },
  UNKNOWN_ACCESS_ID: { status: 403, kind: 'forbidden', description: 'Invalid Access Id' },
  NOT_AUTHORIZED: { status: 403, kind: 'forbidden', description: 'Not authorized to perform the request.' },
  // 401: an OAuth access token refused (contract 10). Whatever the reason, one message; the log has the reason.
  INVALID_ACCESS_TOKEN: { status: 401, kind: 'unauthorized', description: 'Invalid access token' },

  // The token endpoint (contract 10), RFC 6749 §5.2. A failed client authentication never says
  // which check failed.
  OAUTH_INVALID_REQUEST: { status: 400, kind: 'oauth', oauth: 'invalid_request', description: (why: string) => why },
  OAUTH_UNSUPPORTED_GRANT_TYPE: {
    status: 400, kind: 'oauth', oauth: 'unsupported_grant_type', description: 'Only grant_type=client_credentials is supported.',
  },
  OAUTH_INVALID_CLIENT: { status: 401, kind: 'oauth', oauth: 'invalid_client', description: 'Client authentication failed.' },
  OAUTH_INVALID_SCOPE: {
    status: 400, kind: 'oauth', oauth: 'invalid_scope', description: (scope: string) => `The scope '${scope}' is unknown or not held by this client.`,
  },
  // RFC 6749 names no error for a rate limit; `slow_down` (RFC 8628, in the OAuth error registry) says it.
  OAUTH_RATE_LIMITED: { status: 429, kind: 'oauth', oauth: 'slow_down', description: 'Too many requests.' },
  OAUTH_SERVER_ERROR: { status: 500, kind: 'oauth', oauth: 'server_error', description: 'An internal error occurred.' },

  // 404
  ROUTE_NOT_FOUND: { status: 404, description: (method: string, url: string) => `No endpoint ${method} ${url}` },
  USER_NOT_FOUND: { status: 404, description: (user: string) => `User ${user} not found` },
  DEVICE_NOT_REGISTERED: {
    status: 404,
    description: (device: string, userId: string) => `DS100 ${device} is not registered to user ${userId}`,
  },
  DEVICE_HAS_NO_OTP: { status: 404, description: (device: string) => `No OTP credential found for DS100 ${device}` },
  CREDENTIAL_NOT_FOUND: {
    status: 404,
    description: (token: string, userId: string) => `OTP credential ${token} not found for user ${userId}`,
  },
  API_KEY_NOT_FOUND: { status: 404, description: (accessId: string) => `API key ${accessId} not found` },
  OAUTH_CLIENT_NOT_FOUND: { status: 404, description: (clientId: string) => `OAuth client ${clientId} not found` },
  // Registering an OAuth client (the command line).
  UNKNOWN_SCOPE: { status: 400, description: (scope: string, known: string) => `Unknown scope '${scope}' (known: ${known}).` },
  NO_SCOPE: { status: 400, description: 'An OAuth client needs at least one scope.' },
  BAD_PUBLIC_KEY: { status: 400, description: (why: string) => `The public key cannot be used: ${why}.` },

  // 409: directory changes an operator asked for that would break a rule.
  USER_EXISTS: { status: 409, description: (what: string) => `User ${what} already exists` },
  TOKEN_SERIAL_EXISTS: { status: 409, description: (token: string) => `OTP credential ${token} already exists` },
  // An import record that names something already there, with other values.
  USER_DIFFERS: {
    status: 409,
    description: (user: string, property: string) => `User ${user} already exists with a different ${property}`,
  },
  CREDENTIAL_DIFFERS: {
    status: 409,
    description: (token: string, property: string) => `OTP credential ${token} already exists with a different ${property}`,
  },
  TOO_MANY_DEVICES: {
    status: 409,
    description: (userId: string) => `User ${userId} already has five hardware authenticators registered`,
  },
  TOO_MANY_KEYS: { status: 409, description: 'A tenant holds at most 10 Administration API keys.' },

  // The console (cookie-authenticated, not part of the vendor contract): its refusals answer in
  // the application shape, which its pages show as they are.
  CONSOLE_SIGNIN_REQUIRED: { status: 401, description: 'Sign in to the console first: there is no session, or it has ended.' },
  SIGNIN_FAILED: { status: 401, description: 'The passkey or security key was not accepted.' },
  CONSOLE_ORIGIN: { status: 403, description: 'The request did not come from the console: its Origin is missing or foreign.' },
  CONSOLE_CSRF: { status: 403, description: 'The request lacks the CSRF token of its session.' },
  CONSOLE_NOT_ALLOWED: { status: 403, description: (role: string) => `An administrator with role ${role} may not do this.` },
  ADMIN_NOT_FOUND: { status: 404, description: (admin: string) => `Administrator ${admin} not found` },
  ADMIN_EXISTS: { status: 409, description: (email: string) => `Administrator ${email} is already enrolled` },
  INVITE_INVALID: { status: 410, description: 'This enrolment link is not valid: it was used, has expired, or was replaced by a newer one.' },
  ENROLMENT_FAILED: { status: 400, description: 'The passkey could not be registered: the browser or authenticator answered something else than asked for.' },
  CONSOLE_NOT_BUILT: { status: 503, description: 'The console is not built: run `npm run build`.' },

  // 429, 500, 503
  // 429, 500, 503, 504 (the last as a proxy in front answers when the server is too slow; the
  // emulator injects it in this shape).
  TOO_MANY_REQUESTS: { status: 429, description: 'Too many requests.' },
  INTERNAL: { status: 500, description: 'An internal error occurred.' },
  UNAVAILABLE: { status: 503, description: 'The service is not ready.' },
  GATEWAY_TIMEOUT: { status: 504, description: 'The server did not answer in time.' },

  // The control API of `ds100-admin emulate` (src/emulator/), never served by `serve`.
  CONTROL_TOKEN_REQUIRED: {
    status: 401,
    description: 'The emulator control API needs the control token that emulate printed (Authorization: Bearer <controlToken>).',
  },
  EMULATOR_INVALID: { status: 400, description: (what: string, where: string, rule: string) => `Invalid ${what}: ${where} ${rule}.` },
  SEED_FILE_INVALID: { status: 400, description: (file: string, where: string, problem: string) => `Seed file ${file}, ${where}: ${problem}.` },
  FAULT_NOT_FOUND: { status: 404, description: (id: string) => `Fault rule ${id} not found` },
} as const satisfies Record<
  string,
  { status: number; kind?: 'forbidden' | 'unauthorized' | 'oauth'; oauth?: string; description: string | ((...a: string[]) => string) }
>;

export type ErrorName = keyof typeof catalog;
type Args<N extends ErrorName> = (typeof catalog)[N]['description'] extends (...a: infer A) => string ? A : [];

export class ApiError extends Error {
  readonly status: number;
  /** Answered in the Spring Boot shape (403 and the access token's 401). */
  readonly spring: boolean;
  /** The token endpoint's RFC 6749 error code, for its errors only. */
  readonly oauth: string | undefined;
  constructor(
    readonly errorName: ErrorName,
    description: string,
  ) {
    super(description);
    const entry = catalog[errorName] as { status: number; kind?: string; oauth?: string };
    this.status = entry.status;
    this.spring = entry.kind === 'forbidden' || entry.kind === 'unauthorized';
    this.oauth = entry.oauth;
  }
  /** `404 NOT_FOUND`: the status number and its reason phrase in upper snake case. */
  get code(): string {
    return statusCode(this.status);
  }
  get description(): string {
    return this.message;
  }
}

export function statusCode(status: number): string {
  const phrase = STATUS_CODES[status] ?? 'Error';
  return `${status} ${phrase.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/** Makes the catalog's error `name`, e.g. `apiError('USER_NOT_FOUND', userId)`. */
export function apiError<N extends ErrorName>(name: N, ...args: Args<N>): ApiError {
  const d = catalog[name].description as string | ((...a: string[]) => string);
  return new ApiError(name, typeof d === 'function' ? d(...(args as string[])) : d);
}
