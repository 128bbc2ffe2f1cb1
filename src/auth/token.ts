import { CLOCK_SKEW_SECONDS, MAX_TOKEN_LENGTH, MAX_TOKEN_LIFETIME_SECONDS, TOKEN_LIFETIME_TOLERANCE_SECONDS } from '../contract/limits.ts';
import type { Clock } from '../domain/clock.ts';
import type { ApiKey, Role } from '../domain/types.ts';
import { adminRestApiUrl } from './keyfile.ts';
import { makeInlineSignatureChecker, type SignatureChecker } from './signature.ts';

/** Who a verified token speaks for. */
export interface Principal {
  subject: string;
  role: Role;
}

/**
 * What a refused token's client may be told (spec 1, error bodies), each kind one 403 message:
 * - `expired`: validly signed, and past its `exp` by more than the skew;
 * - `audience`: validly signed, and its `aud` names no accepted form of this server;
 * - `unknownAccessId`: well formed, and its `sub` names no registered key (the signature cannot
 *   be checked without one);
 * - `invalid`: anything else.
 * Only a token whose signature verified can be told anything about its claims.
 */
export type RefusalKind = 'expired' | 'audience' | 'unknownAccessId' | 'invalid';

/** Why a token was refused: `kind` for the client, the message (the detail) for the server log only. */
export class TokenRefused extends Error {
  constructor(
    reason: string,
    readonly kind: RefusalKind = 'invalid',
  ) {
    super(reason);
  }
}

export interface TokenVerifierDeps {
  /** The registered key for an access id, or null. Asked on every request, cache hits included. */
  findKey: (accessId: string) => Promise<ApiKey | null>;
  /** The server's public URL, or a function giving it once the server listens (`--port 0`). */
  publicUrl: string | (() => string);
  clock: Clock;
  /** Verified tokens kept, most recent first; 0 turns the cache off. */
  cacheSize?: number;
  /** Where RS256 signatures are checked: on this thread unless given (`serve` uses a worker thread). */
  signatures?: SignatureChecker;
}


const BASE64URL = /^[A-Za-z0-9_-]+$/;
/**
 * The last character of an unpadded segment whose length is 2 or 3 more than a multiple of 4
 * carries 4 or 2 unused low bits; in the one canonical spelling they are zero.
 */
const CANONICAL_LAST: Record<number, RegExp> = { 2: /[AQgw]$/, 3: /[AEIMQUYcgkosw048]$/ };
const DIGITS = /^[0-9]{1,15}$/;

/** The three `aud` forms real clients send for one tenant (spec 2), each with or without one `/`. */
export function acceptedAudiences(publicUrl: string): Set<string> {
  const origin = publicUrl.replace(/\/+$/, '');
  const rest = adminRestApiUrl(origin);
  const forms = [origin, rest, `${rest}/v1`];
  return new Set(forms.flatMap((f) => [f, `${f}/`]));
}

/**
 * Strict base64url (RFC 7515, section 2): its alphabet, no padding, and the one canonical
 * spelling of the bytes. Node's decoder ignores the unused low bits of the last character, so
 * without the last check one token could be sent under several spellings.
 */
function assertBase64url(segment: string, what: string): void {
  const tail = segment.length % 4;
  if (tail === 1 || !BASE64URL.test(segment) || (tail > 1 && !CANONICAL_LAST[tail]!.test(segment))) {
    throw new TokenRefused(`${what} is not base64url`);
  }
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  assertBase64url(segment, what);
  const text = Buffer.from(segment, 'base64url').toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TokenRefused(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TokenRefused(`${what} is not a JSON object`);
  if (hasDuplicateKeys(text)) throw new TokenRefused(`${what} has a duplicate member name`);
  return value as Record<string, unknown>;
}

/**
 * JSON.parse keeps the last of two equal member names, which lets a token say one thing to us and
 * another to a different parser. Scans the top-level object of already valid JSON for repeats.
 */
function hasDuplicateKeys(json: string): boolean {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (json[k] === ' ' || json[k] === '\t' || json[k] === '\n' || json[k] === '\r') k++;
        if (json[k] === ':') {
          const name = JSON.parse(json.slice(i, j + 1)) as string;
          if (seen.has(name)) return true;
          seen.add(name);
        }
      }
      i = j;
    }
  }
  return false;
}

/** A NumericDate: a number, or (as the vendor's own example writes it) a string of digits. */
function numericDate(claims: Record<string, unknown>, name: string): number {
  const v = claims[name];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && DIGITS.test(v)) return Number(v);
  throw new TokenRefused(`claim ${name} is missing or not a NumericDate`);
}

interface CacheEntry {
  principal: Principal;
  publicKeyPem: string;
  /** Seconds: the token is refused from this moment on. */
  refuseAfter: number;
}

/**
 * Verifies the RS256 JWTs that clients sign with their key file (spec section 2), with
 * `node:crypto` directly: no header can choose the key or the algorithm (`jwk`, `jku`, `x5u`,
 * `x5c` and `kid` are ignored, `crit` is refused). A token verified once is kept in a bounded
 * cache keyed by its exact text until its `exp` (plus skew), so a client that reuses its token
 * pays for one signature check; the key is still looked up on every request, so a deleted key
 * stops its tokens at once.
 */
export function makeTokenVerifier({
  findKey, publicUrl, clock, cacheSize = 10_000, signatures = makeInlineSignatureChecker(),
}: TokenVerifierDeps) {
  let audiences: Set<string> | undefined;
  const cache = new Map<string, CacheEntry>();
  let signatureChecks = 0;

  async function verifyToken(token: string): Promise<Principal> {
    const now = clock.now() / 1000;
    const cached = cache.get(token);
    if (cached) {
      const key = await findKey(cached.principal.subject);
      if (now <= cached.refuseAfter && key && key.publicKeyPem === cached.publicKeyPem) {
        return { subject: cached.principal.subject, role: key.role };
      }
      cache.delete(token);
    }

    if (token.length >= MAX_TOKEN_LENGTH) throw new TokenRefused('token too long');
    const parts = token.split('.');
    if (parts.length !== 3) throw new TokenRefused('not a compact JWS');
    const [h, p, s] = parts as [string, string, string];
    const header = decodeSegment(h, 'header');
    if (header.alg !== 'RS256') throw new TokenRefused(`alg ${JSON.stringify(header.alg)} is not RS256`);
    if (header.typ !== undefined && (typeof header.typ !== 'string' || header.typ.toUpperCase() !== 'JWT')) {
      throw new TokenRefused('typ is not JWT');
    }
    if (header.crit !== undefined) throw new TokenRefused('crit header is not supported');
    const claims = decodeSegment(p, 'payload');

    assertBase64url(s, 'signature');

    // The order below decides what a client is told (contract 1, error bodies): a malformed token
    // learns nothing, an unknown `sub` is named before the signature (there is no key to check it
    // with), and the claims are judged only once the signature proves the client signed them.
    const sub = claims.sub;
    if (typeof sub !== 'string' || sub.length === 0) throw new TokenRefused('claim sub is missing');
    // No access id holds a NUL, and PostgreSQL fails on one instead of finding nothing.
    if (sub.includes('\u0000')) throw new TokenRefused('claim sub holds a NUL', 'unknownAccessId');
    const key = await findKey(sub);
    if (!key) throw new TokenRefused('no key registered for sub', 'unknownAccessId');
    signatureChecks++;
    if (!(await signatures.check(key.publicKeyPem, `${h}.${p}`, s))) throw new TokenRefused('bad signature');

    const iat = numericDate(claims, 'iat');
    const exp = numericDate(claims, 'exp');
    if (exp <= iat) throw new TokenRefused('exp is not after iat');
    // Each NumericDate counts as the whole second it falls in, so that a client which reads the
    // clock twice (3600.0000002, or iat T and exp T + 3601 in integers) is not refused (contract 2).
    const lifetime = Math.floor(exp) - Math.floor(iat);
    if (lifetime > MAX_TOKEN_LIFETIME_SECONDS + TOKEN_LIFETIME_TOLERANCE_SECONDS) {
      throw new TokenRefused(`lifetime of ${lifetime} whole seconds is over ${MAX_TOKEN_LIFETIME_SECONDS} + ${TOKEN_LIFETIME_TOLERANCE_SECONDS}`);
    }
    if (now > exp + CLOCK_SKEW_SECONDS) throw new TokenRefused('expired', 'expired');
    // The older revision's rule against the clock: the one-second tolerance never lets a token
    // reach further ahead than an hour and the skew.
    if (exp > now + MAX_TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) throw new TokenRefused('exp more than an hour and the skew ahead');
    if (iat > now + CLOCK_SKEW_SECONDS) throw new TokenRefused('issued in the future');
    const aud = claims.aud;
    const auds = Array.isArray(aud) ? aud : [aud];
    audiences ??= acceptedAudiences(typeof publicUrl === 'string' ? publicUrl : publicUrl());
    const accepted = audiences;
    if (!auds.some((a) => typeof a === 'string' && accepted.has(a))) throw new TokenRefused('aud not accepted', 'audience');

    const principal: Principal = { subject: sub, role: key.role };
    if (cacheSize > 0) {
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
      cache.set(token, { principal, publicKeyPem: key.publicKeyPem, refuseAfter: exp + CLOCK_SKEW_SECONDS });
    }
    return principal;
  }

  return {
    /** The principal of an `Authorization` header value, or a `TokenRefused` naming why not. */
    async verify(authorization: string | undefined): Promise<Principal> {
      if (!authorization) throw new TokenRefused('no Authorization header');
      const match = /^Bearer +(\S+)$/i.exec(authorization);
      if (!match) throw new TokenRefused('Authorization is not a Bearer token');
      return verifyToken(match[1]!);
    },
    /** How many RSA signatures were checked and how many verified tokens are cached (metrics, tests). */
    stats(): { signatureChecks: number; cachedTokens: number } {
      return { signatureChecks, cachedTokens: cache.size };
    },
  };
}

export type TokenVerifier = ReturnType<typeof makeTokenVerifier>;
