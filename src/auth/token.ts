import { CLOCK_SKEW_SECONDS, MAX_TOKEN_LENGTH, MAX_TOKEN_LIFETIME_SECONDS, TOKEN_LIFETIME_TOLERANCE_SECONDS } from '../contract/limits.ts';
import type { Clock } from '../domain/clock.ts';
import type { ApiKey, Role } from '../domain/types.ts';
import { TokenRefused, assertBase64url, decodeSegment } from './jws.ts';
import { adminRestApiUrl } from './keyfile.ts';
import { makeInlineSignatureChecker, type SignatureChecker } from './signature.ts';

export { TokenRefused, type RefusalKind } from './jws.ts';

/**
 * Who a verified token speaks for: an Administration API key (its role decides what it may call)
 * or an OAuth client (its token's scopes decide; it has no role).
 */
export type Principal = KeyPrincipal | ClientPrincipal;
export type KeyPrincipal = { kind: 'key'; subject: string; role: Role };
export type ClientPrincipal = { kind: 'client'; subject: string; role: null; scopes: ReadonlySet<string> };

const BEARER = /^Bearer +(\S+)$/i;
/** The token of an `Authorization: Bearer` header value (scheme in any case), or null. */
export const bearerToken = (authorization: string | undefined): string | null =>
  authorization === undefined ? null : (BEARER.exec(authorization)?.[1] ?? null);

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


const DIGITS = /^[0-9]{1,15}$/;

/** The three `aud` forms real clients send for one tenant (spec 2), each with or without one `/`. */
export function acceptedAudiences(publicUrl: string): Set<string> {
  const origin = publicUrl.replace(/\/+$/, '');
  const rest = adminRestApiUrl(origin);
  const forms = [origin, rest, `${rest}/v1`];
  return new Set(forms.flatMap((f) => [f, `${f}/`]));
}

/** A NumericDate: a number, or (as the vendor's own example writes it) a string of digits. */
function numericDate(claims: Record<string, unknown>, name: string): number {
  const v = claims[name];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && DIGITS.test(v)) return Number(v);
  throw new TokenRefused(`claim ${name} is missing or not a NumericDate`);
}

interface CacheEntry {
  principal: KeyPrincipal;
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

  async function verifyToken(token: string): Promise<KeyPrincipal> {
    const now = clock.now() / 1000;
    const cached = cache.get(token);
    if (cached) {
      const key = await findKey(cached.principal.subject);
      if (now <= cached.refuseAfter && key && key.publicKeyPem === cached.publicKeyPem) {
        return { kind: 'key', subject: cached.principal.subject, role: key.role };
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

    const principal = { kind: 'key', subject: sub, role: key.role } as const;
    if (cacheSize > 0) {
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
      cache.set(token, { principal, publicKeyPem: key.publicKeyPem, refuseAfter: exp + CLOCK_SKEW_SECONDS });
    }
    return principal;
  }

  return {
    /** The principal of an `Authorization` header value, or a `TokenRefused` naming why not. */
    async verify(authorization: string | undefined): Promise<KeyPrincipal> {
      const token = bearerToken(authorization);
      if (token === null) throw new TokenRefused(authorization ? 'Authorization is not a Bearer token' : 'no Authorization header');
      return verifyToken(token);
    },
    /** `verify` for a token already taken out of its `Authorization` header (`bearerToken`). */
    verifyBearer: verifyToken,
    /** How many RSA signatures were checked and how many verified tokens are cached (metrics, tests). */
    stats(): { signatureChecks: number; cachedTokens: number } {
      return { signatureChecks, cachedTokens: cache.size };
    },
  };
}

export type TokenVerifier = ReturnType<typeof makeTokenVerifier>;
