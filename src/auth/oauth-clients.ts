import { createPrivateKey, createPublicKey, generateKeyPair, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { OAUTH_ISSUER_PATH } from '../contract/limits.ts';
import { auditEvent } from '../domain/audit.ts';
import type { Clock } from '../domain/clock.ts';
import type { Store } from '../domain/store.ts';
import { OAUTH_ALGS, SCOPES, type Actor, type OAuthAlg, type OAuthClient, type Scope } from '../domain/types.ts';
import { apiError } from '../errors.ts';
import { keyProblem } from './jws.ts';
import { writeSecretFile } from './keyfile.ts';
import { jwkThumbprint } from './signing-keys.ts';

/** The issuer of a public URL: `{publicUrl}/oauth` (contract 10). */
export function oauthIssuer(publicUrl: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${OAUTH_ISSUER_PATH}`;
}

/** The scopes of a `--scope` value (space- or comma-separated), each checked against the table; duplicates dropped. */
export function parseScopes(text: string): Scope[] {
  const names = [...new Set(text.split(/[\s,]+/).filter(Boolean))];
  if (names.length === 0) throw apiError('NO_SCOPE');
  for (const name of names) if (!(SCOPES as readonly string[]).includes(name)) throw apiError('UNKNOWN_SCOPE', name, SCOPES.join(', '));
  return names as Scope[];
}

/** The algorithm a key is used with when none is named: by its type. */
const algOfKey = (key: KeyObject): OAuthAlg => (key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256');

/**
 * A public key a client made itself: a PEM (SPKI, PKCS#1 or a certificate) or a JWK. A file that
 * holds a private key is refused: the server has no use for it, and the client should not have sent it.
 */
export function parsePublicKey(text: string): { key: KeyObject; kid: string | undefined; alg: string | undefined } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let jwk: JsonWebKey & { kid?: unknown; alg?: unknown };
    try {
      jwk = JSON.parse(trimmed) as typeof jwk;
    } catch {
      throw apiError('BAD_PUBLIC_KEY', 'the file is neither a PEM nor a JSON JWK');
    }
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw apiError('BAD_PUBLIC_KEY', 'the JWK is not a JSON object');
    if (jwk.d !== undefined) throw apiError('BAD_PUBLIC_KEY', 'the JWK holds a private key; give its public half only');
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' });
    } catch (error) {
      throw apiError('BAD_PUBLIC_KEY', (error as Error).message);
    }
    return { key, kid: typeof jwk.kid === 'string' && jwk.kid !== '' ? jwk.kid : undefined, alg: typeof jwk.alg === 'string' ? jwk.alg : undefined };
  }
  if (/PRIVATE KEY-----/.test(trimmed)) throw apiError('BAD_PUBLIC_KEY', 'the PEM holds a private key; give its public half only');
  try {
    return { key: createPublicKey(trimmed), kid: undefined, alg: undefined };
  } catch (error) {
    throw apiError('BAD_PUBLIC_KEY', (error as Error).message);
  }
}

export interface CreateClientInput {
  scopes: Scope[];
  /** Default: the public key's `alg`, else by its type; for a key made here, RS256. */
  alg?: OAuthAlg;
  /** A public key the client made (PEM or JWK text); without it a key pair is made here. */
  publicKey?: string;
  /** The pair's private key (PEM) when the caller already has a pair for the client to use (the emulator keeps some made earlier). */
  privateKeyPem?: string;
  description?: string | null;
  /** Folder for the private JWK file of a key made here. */
  saveTo?: string;
  /** Default: a new UUID. The emulator lets a test pin it. */
  clientId?: string;
}

/** What the private JWK file of a key made here holds: the JWK's own members, named first as RFC 7517 lists them, as pydplus loads it. */
export type ClientJwkFile = JsonWebKey & { kty: string; kid: string; alg: OAuthAlg; use: 'sig' };

const makePair = promisify(generateKeyPair);

/**
 * A client as `create` registers it, not stored yet: a public key given is checked against the
 * algorithm; otherwise the pair is the one given or one made here (RSA-2048 for RS256, P-256 for
 * ES256), and `jwkFile` is what its private JWK file is to hold.
 */
export async function newOAuthClient(input: CreateClientInput, createdAt: string): Promise<{ client: OAuthClient; jwkFile?: ClientJwkFile }> {
  if (input.alg !== undefined && !OAUTH_ALGS.includes(input.alg)) throw apiError('BAD_PUBLIC_KEY', `alg ${String(input.alg)} is not RS256 or ES256`);
  let publicKey: KeyObject;
  let kid: string | undefined;
  let alg: OAuthAlg;
  let privateJwk: JsonWebKey | undefined;
  if (input.publicKey !== undefined) {
    const given = parsePublicKey(input.publicKey);
    if (given.alg !== undefined && !(OAUTH_ALGS as readonly string[]).includes(given.alg)) {
      throw apiError('BAD_PUBLIC_KEY', `the JWK's alg ${given.alg} is not RS256 or ES256`);
    }
    alg = input.alg ?? (given.alg as OAuthAlg | undefined) ?? algOfKey(given.key);
    if (given.alg !== undefined && given.alg !== alg) throw apiError('BAD_PUBLIC_KEY', `the JWK says alg ${given.alg}, not ${alg}`);
    publicKey = given.key;
    kid = given.kid;
  } else {
    let privateKey: KeyObject;
    if (input.privateKeyPem !== undefined) {
      privateKey = createPrivateKey(input.privateKeyPem);
      alg = input.alg ?? algOfKey(privateKey);
    } else {
      alg = input.alg ?? 'RS256';
      ({ privateKey } = alg === 'ES256' ? await makePair('ec', { namedCurve: 'P-256' }) : await makePair('rsa', { modulusLength: 2048 }));
    }
    publicKey = createPublicKey(privateKey);
    privateJwk = privateKey.export({ format: 'jwk' });
  }
  const problem = keyProblem(alg, publicKey);
  if (problem) throw apiError('BAD_PUBLIC_KEY', problem);
  kid ??= jwkThumbprint(publicKey.export({ format: 'jwk' }));
  const client: OAuthClient = {
    clientId: input.clientId ?? randomUUID(),
    description: input.description ?? null,
    scopes: input.scopes,
    alg,
    kid,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    createdAt,
  };
  return { client, ...(privateJwk ? { jwkFile: { kty: privateJwk.kty!, kid, alg, use: 'sig' as const, ...privateJwk } } : {}) };
}

/**
 * OAuth clients (contract 10): the server keeps the public half of each client's key; the private
 * half of a key made here is handed out once, as a JWK file written before the client is committed.
 */
export function makeOAuthClientService({ store, clock }: { store: Store; clock: Clock }) {
  return {
    /**
     * Registers a client. With `saveTo` and no `publicKey`, its private key is written as
     * `<saveTo>/<clientId>.json` (mode 0600) before the client is committed, and removed if the
     * commit fails.
     */
    async create(actor: Actor, input: CreateClientInput): Promise<{ client: OAuthClient; privateJwk?: JsonWebKey; path?: string }> {
      const { client, jwkFile } = await newOAuthClient(input, clock.nowIso());
      const path = jwkFile && input.saveTo !== undefined ? await writeSecretFile(input.saveTo, `${client.clientId}.json`, jwkFile) : undefined;
      try {
        await store.transaction(async (tx) => {
          await tx.insertOAuthClient(client);
          await tx.appendAudit(auditEvent(actor, client.createdAt, 'oauthclient.create', { clientId: client.clientId }, 'changed', 200));
        });
      } catch (error) {
        if (path) await rm(path, { force: true });
        throw error;
      }
      return { client, ...(jwkFile ? { privateJwk: jwkFile } : {}), ...(path ? { path } : {}) };
    },

    /** Removes a client: its access tokens are refused from the next request on, on every instance. */
    async delete(actor: Actor, clientId: string): Promise<void> {
      await store.transaction(async (tx) => {
        if (!(await tx.deleteOAuthClient(clientId))) throw apiError('OAUTH_CLIENT_NOT_FOUND', clientId);
        await tx.appendAudit(auditEvent(actor, clock.nowIso(), 'oauthclient.delete', { clientId }, 'changed', 200));
      });
    },

    list: (): Promise<OAuthClient[]> => store.oauthClients(),
  };
}

export type OAuthClientService = ReturnType<typeof makeOAuthClientService>;
