/**
 * OAuth clients for the suites of contract 10: registered through the service as the command line
 * does, their assertions signed with node:crypto (so that any header or claim can be sent), token
 * requests sent over real HTTP.
 */
import { createPrivateKey, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { makeOAuthClientService } from '../../src/auth/oauth-clients.ts';
import { systemClock, type Clock } from '../../src/domain/clock.ts';
import type { Actor, OAuthAlg, Scope } from '../../src/domain/types.ts';
import type { Store } from '../../src/domain/store.ts';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ALL_SCOPES: Scope[] = [
  'rsa.authenticator.ds100.manage', 'rsa.authenticator.ds100.delete', 'rsa.authenticator.ds100.read', 'rsa.user.read',
];
const operator: Actor = { kind: 'operator', subject: 'oauth-test', role: null, clientAddress: 'local', requestId: null };

export interface TestClient {
  clientId: string;
  alg: OAuthAlg;
  kid: string;
  privateKey: KeyObject;
  jwk: JsonWebKey & { kid: string; alg: string };
}

/** A client registered in `store` with a key pair made by the server, as `oauth-clients create` does. */
export async function createClient(store: Store, scopes: Scope[] = ALL_SCOPES, alg: OAuthAlg = 'ES256', clock: Clock = systemClock): Promise<TestClient> {
  const { client, privateJwk } = await makeOAuthClientService({ store, clock }).create(operator, { scopes, alg });
  const jwk = privateJwk as TestClient['jwk'];
  return { clientId: client.clientId, alg, kid: client.kid, privateKey: createPrivateKey({ key: jwk, format: 'jwk' }), jwk };
}

export const deleteClient = (store: Store, clientId: string): Promise<void> =>
  makeOAuthClientService({ store, clock: systemClock }).delete(operator, clientId);

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A compact JWS of `header` and `payload`, signed as `alg` says with `key` (ES256 in JOSE's raw r||s). */
export function signJws(header: Record<string, unknown>, payload: unknown, key: KeyObject, alg: OAuthAlg = header.alg as OAuthAlg): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = alg === 'ES256' ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(input), key);
  return `${input}.${signature.toString('base64url')}`;
}

/**
 * A good assertion for `client` at `nowSeconds` (iat, exp + 300, a fresh jti, the client's kid),
 * with `claims` and `header` applied (undefined removes a member).
 */
export function assertion(
  client: TestClient,
  audience: string,
  { claims = {}, header = {}, nowSeconds = Math.floor(Date.now() / 1000), key = client.privateKey }: {
    claims?: Record<string, unknown>; header?: Record<string, unknown>; nowSeconds?: number; key?: KeyObject;
  } = {},
): string {
  const h: Record<string, unknown> = { alg: client.alg, typ: 'JWT', kid: client.kid, ...header };
  const c: Record<string, unknown> = { iss: client.clientId, sub: client.clientId, aud: audience, iat: nowSeconds, exp: nowSeconds + 300, jti: randomUUID(), ...claims };
  for (const o of [h, c]) for (const [k, v] of Object.entries(o)) if (v === undefined) delete o[k];
  return signJws(h, c, key, client.alg);
}

export interface TokenReply {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

/** POSTs a token request: `body` as form fields (encoded with URLSearchParams) or raw text. */
export async function tokenRequest(
  baseUrl: string,
  body: Record<string, string> | string,
  contentType: string | null = 'application/x-www-form-urlencoded',
): Promise<TokenReply> {
  const headers: Record<string, string> = contentType === null ? {} : { 'content-type': contentType };
  const res = await fetch(`${baseUrl}/oauth/token`, { method: 'POST', headers, body: typeof body === 'string' ? body : new URLSearchParams(body).toString() });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // left empty: the test says what it expected
  }
  return { status: res.status, headers: res.headers, json };
}

/** The form fields of a good token request for `client`. */
export function grantFields(client: TestClient, baseUrl: string, over: Record<string, string | undefined> = {}): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER,
    client_assertion: assertion(client, `${baseUrl}/oauth/token`),
    client_id: client.clientId,
    ...over,
  };
  return Object.fromEntries(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined));
}

/** An access token for `client` (every scope it holds unless `scope` says). */
export async function accessToken(client: TestClient, baseUrl: string, scope?: string): Promise<string> {
  const reply = await tokenRequest(baseUrl, grantFields(client, baseUrl, { scope }));
  if (reply.status !== 200) throw new Error(`token request failed: ${reply.status} ${JSON.stringify(reply.json)}`);
  return reply.json.access_token as string;
}
