import { createPrivateKey, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KeyFileError } from './errors.ts';

/** The two assertion algorithms of contract 10. */
export type OAuthAlg = 'RS256' | 'ES256';

/** A client's private key read from a JWK, with the algorithm and key id its assertions carry. */
export interface OAuthKey {
  key: KeyObject;
  alg: OAuthAlg;
  kid: string | undefined;
}

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** A client assertion lives this long (`exp - iat`), as pydplus makes them. */
export const ASSERTION_LIFETIME_SECONDS = 300;

/**
 * Reads a private JWK (the file `ds100-admin oauth-clients create` writes, or any RSA or P-256
 * private JWK): its `alg` if it names one, else RS256 for RSA and ES256 for EC; its `kid` if it has
 * one. Throws a {@link KeyFileError} when it is not a usable private key.
 *
 * @example
 * ```ts
 * const { alg, kid } = parseJwk(JSON.parse(readFileSync('client.json', 'utf8')));
 * console.log(alg, kid); // 'ES256', 'ZUNshJcJy9oSit1P0y8RKQ1r_jCLIUv4jJb6WZWFq4c'
 * ```
 */
export function parseJwk(jwk: unknown, path?: string): OAuthKey {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new KeyFileError('the JWK is not a JSON object', undefined, path);
  const j = jwk as JsonWebKey & { alg?: unknown; kid?: unknown };
  if (typeof j.d !== 'string') throw new KeyFileError('the JWK holds no private key (no "d")', 'd', path);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: j, format: 'jwk' });
  } catch (e) {
    throw new KeyFileError(`the JWK cannot be read as a private key: ${(e as Error).message}`, undefined, path, { cause: e });
  }
  const byType: OAuthAlg | undefined = key.asymmetricKeyType === 'rsa' ? 'RS256' : key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ES256' : undefined;
  const alg = j.alg ?? byType;
  if (alg !== 'RS256' && alg !== 'ES256') throw new KeyFileError(`the JWK's algorithm ${String(alg)} is not RS256 or ES256`, 'alg', path);
  if (alg !== byType) throw new KeyFileError(`the JWK says alg ${alg}, which its key type cannot sign`, 'alg', path);
  return { key, alg, kid: typeof j.kid === 'string' && j.kid !== '' ? j.kid : undefined };
}

/**
 * Reads a private JWK file and checks it (see {@link parseJwk}); returns the JWK object. Throws a
 * {@link KeyFileError} naming the file when it cannot be used.
 *
 * @example
 * ```ts
 * const jwk = await loadJwkFile('./data/oauth-clients/94981add-93d5-42ff-a285-193f843ad11b.json');
 * const client = new Ds100AdminClient({ jwk, clientId, issuer: 'https://admin.example.com/oauth' });
 * ```
 */
export async function loadJwkFile(path: string): Promise<object> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KeyFileError(`cannot read JWK file ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, undefined, path, { cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new KeyFileError(`JWK file ${path} is not valid JSON: ${(e as Error).message}`, undefined, path, { cause: e });
  }
  parseJwk(value, path);
  return value as object;
}

const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A client assertion (RFC 7523 §3) as pydplus makes one: `iss` = `sub` = the client id, `aud` the
 * token endpoint, integer `iat` and `exp` = `iat` + 300, a UUID `jti`, and `kid` in the header when
 * the key has one. ES256 signatures are JOSE's raw `r || s`.
 *
 * @example
 * ```ts
 * const key = await loadJwkFile('client.json');
 * const jwt = clientAssertion(key, clientId, 'https://admin.example.com/oauth/token', Date.now());
 * ```
 */
export function clientAssertion(key: OAuthKey, clientId: string, audience: string, nowMs: number): string {
  const iat = Math.floor(nowMs / 1000);
  const header = { alg: key.alg, typ: 'JWT', ...(key.kid ? { kid: key.kid } : {}) };
  const input = `${encode(header)}.${encode({ iss: clientId, sub: clientId, aud: audience, iat, exp: iat + ASSERTION_LIFETIME_SECONDS, jti: randomUUID() })}`;
  const signature = key.alg === 'ES256' ? sign('sha256', Buffer.from(input), { key: key.key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(input), key.key);
  return `${input}.${signature.toString('base64url')}`;
}
