import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { MAX_TOKEN_LENGTH } from '../contract/limits.ts';

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

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/**
 * The last character of an unpadded segment whose length is 2 or 3 more than a multiple of 4
 * carries 4 or 2 unused low bits; in the one canonical spelling they are zero.
 */
const CANONICAL_LAST: Record<number, RegExp> = { 2: /[AQgw]$/, 3: /[AEIMQUYcgkosw048]$/ };

/**
 * Strict base64url (RFC 7515, section 2): its alphabet, no padding, and the one canonical
 * spelling of the bytes. Node's decoder ignores the unused low bits of the last character, so
 * without the last check one token could be sent under several spellings.
 */
export function assertBase64url(segment: string, what: string): void {
  const tail = segment.length % 4;
  if (tail === 1 || !BASE64URL.test(segment) || (tail > 1 && !CANONICAL_LAST[tail]!.test(segment))) {
    throw new TokenRefused(`${what} is not base64url`);
  }
}

export function decodeSegment(segment: string, what: string): Record<string, unknown> {
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

/** A compact JWS taken apart, nothing about it trusted yet. */
export interface CompactJws {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  /** `header.payload` as sent: what the signature covers. */
  signingInput: string;
  /** The third segment, checked to be canonical base64url. */
  signature: string;
}

/** Splits and decodes a compact JWS (RFC 7515 §7.1): a `crit` header is refused, being understood by no one here. */
export function parseCompactJws(token: string): CompactJws {
  if (token.length >= MAX_TOKEN_LENGTH) throw new TokenRefused('token too long');
  const parts = token.split('.');
  if (parts.length !== 3) throw new TokenRefused('not a compact JWS');
  const [h, p, s] = parts as [string, string, string];
  const header = decodeSegment(h, 'header');
  if (header.crit !== undefined) throw new TokenRefused('crit header is not supported');
  const claims = decodeSegment(p, 'payload');
  assertBase64url(s, 'signature');
  return { header, claims, signingInput: `${h}.${p}`, signature: s };
}

/** The `typ` of a token's header, without checking anything else: how the guard tells access tokens from key JWTs. */
export function headerType(token: string): string | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0) return undefined;
  const segment = token.slice(0, dot);
  // One client's tokens all share one header, so each distinct header is decoded once; this runs
  // on every request and its decoding was a tenth of a cached lookup's CPU time.
  if (headerTypes.has(segment)) return headerTypes.get(segment);
  let type: string | undefined;
  try {
    const typ = (JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as { typ?: unknown }).typ;
    type = typeof typ === 'string' ? typ.toLowerCase() : undefined;
  } catch {
    type = undefined;
  }
  if (segment.length > 512) return type;
  if (headerTypes.size >= MAX_HEADER_TYPES) headerTypes.clear();
  headerTypes.set(segment, type);
  return type;
}
const headerTypes = new Map<string, string | undefined>();
/** Distinct headers remembered: far more than honest clients send; garbage only empties it. */
const MAX_HEADER_TYPES = 256;

/** The two algorithms of OAuth clients and access tokens (contract 10). */
export type JwsAlg = 'RS256' | 'ES256';

/** The key type and size a JWS algorithm needs, or why `key` is not one. */
export function keyProblem(alg: JwsAlg, key: KeyObject): string | undefined {
  if (alg === 'RS256') {
    if (key.asymmetricKeyType !== 'rsa') return `RS256 needs an RSA key, not ${key.asymmetricKeyType ?? 'this key'}`;
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return 'RS256 needs an RSA key of at least 2048 bits';
    return undefined;
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return 'ES256 needs an EC key on P-256';
  return undefined;
}

/**
 * Checks a JWS signature with `node:crypto`. ES256 signatures are JOSE's raw `r || s` (64 bytes,
 * RFC 7518 §3.4), not DER; anything of another length is refused before the check.
 */
export function verifyJws(alg: JwsAlg, key: KeyObject, signingInput: string, signature: string): boolean {
  const bytes = Buffer.from(signature, 'base64url');
  const data = Buffer.from(signingInput, 'latin1');
  if (alg === 'ES256') return bytes.length === 64 && verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, bytes);
  return verify('sha256', data, key, bytes);
}

/** Parsed public keys by PEM: parsing one costs about as much as a signature check. */
export function publicKeyCache(size = 256): (pem: string) => KeyObject {
  const keys = new Map<string, KeyObject>();
  return (pem) => {
    let k = keys.get(pem);
    if (!k) {
      k = createPublicKey(pem);
      if (keys.size >= size) keys.clear();
      keys.set(pem, k);
    }
    return k;
  };
}

/** A NumericDate claim (RFC 7519 §2): a finite number. */
export function numericClaim(claims: Record<string, unknown>, name: string): number {
  const v = claims[name];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw new TokenRefused(`claim ${name} is missing or not a NumericDate`);
}
