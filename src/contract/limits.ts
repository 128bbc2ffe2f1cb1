/**
 * The numbers of the wire contract (docs/contract.md), each written once. The server enforces
 * them, the CLI names them in its help, and the SDK gets the ones a client needs through its
 * generated wire module.
 */

/** Every endpoint lives under this path of the public URL. */
export const REST_BASE_PATH = '/AdminInterface/restapi';

/** A legacy key JWT lives at most this long (`exp - iat`). */
export const MAX_TOKEN_LIFETIME_SECONDS = 3600;
/**
 * How far the lifetime, counted in whole seconds, may run over the maximum: clients that read
 * the clock once for `iat` and again for `exp` land a second over when a second turns between.
 */
export const TOKEN_LIFETIME_TOLERANCE_SECONDS = 1;
/** Clock skew tolerated on `iat` and `exp`. */
export const CLOCK_SKEW_SECONDS = 60;
/** Tokens of this length or more are refused unread: a real one is well under 2 KiB. */
export const MAX_TOKEN_LENGTH = 8192;

/** Bodies over this many bytes are refused before parsing (413). */
export const BODY_LIMIT = 16 * 1024;
/** Every property of the DS100 bodies is a non-empty string of at most this many characters. */
export const IDENTIFIER_MAX_LENGTH = 36;
/** An e-mail address may be as long as SMTP allows. */
export const EMAIL_MAX_LENGTH = 254;

/** A tenant holds at most this many Administration API keys. */
export const MAX_API_KEYS = 10;
/** A user may have at most this many DS100s registered. */
export const MAX_DEVICES_PER_USER = 5;

/** Contract 11: how long each event log keeps its events, in days. */
export const ADMIN_LOG_RETENTION_DAYS = 90;
export const USER_EVENT_LOG_RETENTION_DAYS = 40;
/** An export page holds at most this many events; also the default page size. */
export const EXPORT_PAGE_SIZE = 100;
/** Without `startTimeAfter`, an export starts this long before now. */
export const EXPORT_DEFAULT_WINDOW_HOURS = 24;
/**
 * How far ahead of the server's clock `endTimeOnOrBefore` may be: a collector whose clock runs a
 * little ahead is served (and later events are stamped after its window); one further ahead is refused.
 */
export const EXPORT_MAX_END_AHEAD_SECONDS = 60;
/** Where the OAuth authorization server lives under the public URL: the issuer is `{publicUrl}/oauth`. */
export const OAUTH_ISSUER_PATH = '/oauth';
/** An access token lives this long (`expires_in`). */
export const ACCESS_TOKEN_LIFETIME_SECONDS = 3600;
/** A client assertion's `exp` may lie at most this far ahead (plus the skew). */
export const MAX_ASSERTION_LIFETIME_SECONDS = 3600;
/** The server's token signing key is replaced when a grant finds it older than this. */
export const SIGNING_KEY_ROTATION_DAYS = 30;
