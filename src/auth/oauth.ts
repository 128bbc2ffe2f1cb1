import { createPublicKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import {
  ACCESS_TOKEN_LIFETIME_SECONDS, CLOCK_SKEW_SECONDS, MAX_ASSERTION_LIFETIME_SECONDS, TOKEN_LIFETIME_TOLERANCE_SECONDS,
} from '../contract/limits.ts';
import { SCOPES, type Scope } from '../contract/schemas.ts';
import { auditEvent } from '../domain/audit.ts';
import type { Clock } from '../domain/clock.ts';
import type { Store } from '../domain/store.ts';
import type { Actor, AuditTarget, OAuthClient, TokenRefusal } from '../domain/types.ts';
import { apiError, type ApiError } from '../errors.ts';
import { TokenRefused, numericClaim, parseCompactJws, verifyJws, type JwsAlg } from './jws.ts';
import { adminRestApiUrl } from './keyfile.ts';
import { oauthIssuer } from './oauth-clients.ts';
import type { SigningKeys } from './signing-keys.ts';
import type { Principal } from './token.ts';

export const CLIENT_CREDENTIALS = 'client_credentials';
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The `typ` values of an access token's header (RFC 9068 §2.1): how the guard knows one. */
export const ACCESS_TOKEN_TYPES: ReadonlySet<string> = new Set(['at+jwt', 'application/at+jwt']);
/** The `typ` values a client assertion may carry; `at+jwt` above all is refused (an access token is no assertion). */
const ASSERTION_TYPES = new Set(['jwt', 'client-authentication+jwt', 'application/client-authentication+jwt']);
const FIELDS = ['grant_type', 'client_assertion_type', 'client_assertion', 'client_id', 'scope'] as const;
const MAX_JTI_LENGTH = 256;
/** The most of a claimed client id, or of a refused scope's name, that the trail keeps: they are the caller's text. */
const MAX_CLAIM_LENGTH = 100;
const bounded = (text: string): string => (text.length > MAX_CLAIM_LENGTH ? `${text.slice(0, MAX_CLAIM_LENGTH)}…` : text);

const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const auds = (aud: unknown): unknown[] => (Array.isArray(aud) ? aud : [aud]);

/**
 * What a token request came to: the answer, the client it named (when that client exists) and, for
 * a refusal, the reason to log and the target of its audit event (which the caller writes).
 */
export type GrantResult =
  | { ok: true; clientId: string; body: { access_token: string; token_type: 'Bearer'; expires_in: number; scope: string } }
  | { ok: false; clientId: string | null; error: ApiError; reason: string; target: AuditTarget };

export interface OAuthServerDeps {
  store: Store;
  clock: Clock;
  signingKeys: SigningKeys;
  /** The server's public URL, or a function giving it once the server listens. */
  publicUrl: string | (() => string);
  /** Verified access tokens kept, most recent first; 0 turns the cache off. */
  cacheSize?: number;
}

/**
 * The OAuth 2.0 authorization server of contract 10: the client credentials grant with
 * `private_key_jwt` client authentication (RFC 7523), and the RFC 9068 access tokens it issues,
 * signed ES256 with the server's key and verified here for every API call that carries one.
 */
export function makeOAuthServer({ store, clock, signingKeys, publicUrl, cacheSize = 10_000 }: OAuthServerDeps) {
  let urls: { issuer: string; tokenEndpoint: string; audience: string; assertionAudiences: Set<string> } | undefined;
  const urlsNow = () => {
    if (urls) return urls;
    const base = typeof publicUrl === 'string' ? publicUrl : publicUrl();
    const issuer = oauthIssuer(base);
    const tokenEndpoint = `${issuer}/token`;
    urls = { issuer, tokenEndpoint, audience: adminRestApiUrl(base), assertionAudiences: new Set([tokenEndpoint, issuer]) };
    return urls;
  };
  const publicKeys = new Map<string, KeyObject>();
  const clientKey = (c: OAuthClient): KeyObject => {
    let k = publicKeys.get(c.publicKeyPem);
    if (!k) {
      k = createPublicKey(c.publicKeyPem);
      if (publicKeys.size >= 1000) publicKeys.clear();
      publicKeys.set(c.publicKeyPem, k);
    }
    return k;
  };

  /**
   * RFC 7523 §3 and contract 10: the assertion proves the client, or a TokenRefused says why
   * not (for the log only). Nothing is written: the `jti` is spent only when a token is issued.
   */
  async function authenticate(assertion: string, clientIdField: string | undefined): Promise<{ client: OAuthClient; jti: string; exp: number }> {
    const { header, claims, signingInput, signature } = parseCompactJws(assertion);
    if (header.typ !== undefined && (typeof header.typ !== 'string' || !ASSERTION_TYPES.has(header.typ.toLowerCase()))) {
      throw new TokenRefused(`assertion typ ${JSON.stringify(header.typ)} is not JWT`);
    }
    const iss = claims.iss;
    if (typeof iss !== 'string' || iss === '' || iss.includes('\u0000')) throw new TokenRefused('claim iss is missing');
    if (claims.sub !== iss) throw new TokenRefused('claim sub is not iss');
    if (clientIdField !== undefined && clientIdField !== iss) throw new TokenRefused('client_id is not the assertion iss');
    const client = await store.oauthClient(iss);
    if (!client) throw new TokenRefused('no such client');
    // The algorithm is the client's, never the header's: `none`, HS256 keyed with the public key,
    // RS512 and the like are refused before any key is used.
    if (header.alg !== client.alg) throw new TokenRefused(`alg ${JSON.stringify(header.alg)} is not the client's ${client.alg}`);
    if (header.kid !== undefined && header.kid !== client.kid) throw new TokenRefused('kid names another key');
    if (!verifyJws(client.alg as JwsAlg, clientKey(client), signingInput, signature)) throw new TokenRefused('bad signature');

    const now = clock.now() / 1000;
    if (!auds(claims.aud).some((a) => typeof a === 'string' && urlsNow().assertionAudiences.has(a))) throw new TokenRefused('aud is not the token endpoint');
    const exp = numericClaim(claims, 'exp');
    if (now > exp + CLOCK_SKEW_SECONDS) throw new TokenRefused('assertion expired');
    if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) throw new TokenRefused('exp more than an hour ahead');
    if (claims.iat !== undefined && numericClaim(claims, 'iat') > now + CLOCK_SKEW_SECONDS) throw new TokenRefused('issued in the future');
    if (claims.nbf !== undefined && numericClaim(claims, 'nbf') > now + CLOCK_SKEW_SECONDS) throw new TokenRefused('not yet valid (nbf)');
    const jti = claims.jti;
    if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH || jti.includes('\u0000')) throw new TokenRefused('claim jti is missing or unusable');
    return { client, jti, exp };
  }

  /** The scopes granted: those asked for (all the client holds when none are), each known and held. */
  function grantedScopes(client: OAuthClient, asked: string | undefined): Scope[] | { refused: string } {
    const names = asked === undefined ? [] : [...new Set(asked.split(' ').filter(Boolean))];
    if (names.length === 0) return client.scopes;
    for (const name of names) {
      if (!(SCOPES as readonly string[]).includes(name) || !(client.scopes as string[]).includes(name)) return { refused: name };
    }
    return names as Scope[];
  }

  async function issue(actor: Actor, client: OAuthClient, jti: string, assertionExp: number, scopes: Scope[]): Promise<string | null> {
    const key = await signingKeys.current();
    const nowMs = clock.now();
    const iat = Math.floor(nowMs / 1000);
    // Kept until the assertion can no longer be accepted anywhere: its exp and the skew.
    const usedUntil = new Date((Math.ceil(assertionExp) + CLOCK_SKEW_SECONDS) * 1000).toISOString();
    const fresh = await store.transaction(async (tx) => {
      await tx.pruneJtis(new Date(nowMs).toISOString());
      if (!(await tx.useJti(client.clientId, jti, usedUntil))) return false;
      await tx.appendAudit(auditEvent(actor, clock.nowIso(), 'oauth.token', { clientId: client.clientId, scope: scopes.join(' ') }, 'changed', 200));
      return true;
    });
    if (!fresh) return null;
    const { issuer, audience } = urlsNow();
    const input = `${encode({ alg: 'ES256', typ: 'at+jwt', kid: key.kid })}.${encode({
      iss: issuer,
      sub: client.clientId,
      aud: audience,
      client_id: client.clientId,
      scope: scopes.join(' '),
      iat,
      exp: iat + ACCESS_TOKEN_LIFETIME_SECONDS,
      jti: randomUUID(),
    })}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  }

  interface CacheEntry {
    principal: Principal & { kind: 'client' };
    refuseAfter: number;
  }
  const cache = new Map<string, CacheEntry>();

  return {
    urls: urlsNow,

    /** RFC 8414 metadata. */
    metadata() {
      const { issuer, tokenEndpoint } = urlsNow();
      return {
        issuer,
        token_endpoint: tokenEndpoint,
        jwks_uri: `${issuer}/jwks`,
        grant_types_supported: [CLIENT_CREDENTIALS],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ['RS256', 'ES256'],
        scopes_supported: SCOPES,
        // No authorization endpoint: no response type is served.
        response_types_supported: [],
      };
    },

    /**
     * One token request, its form fields as sent (each name with every value it was given). The
     * issued token's audit event is committed with its spent `jti`; a refusal is left for the caller
     * to audit, with the target given here. Once the assertion proves its client, `actor` becomes
     * that client (contract 10); until then the caller is unauthenticated, and the target names the
     * client the assertion claims, flagged `clientUnverified`.
     */
    async grant(fields: Map<string, string[]>, actor: Actor): Promise<GrantResult> {
      /** A refusal before any client was proven: the target names the one the assertion claims, if it names one. */
      const refuse = (error: ApiError, reason: string, refusal?: TokenRefusal, clientId: string | null = null): GrantResult => {
        const iss = parseIssuer(fields.get('client_assertion')?.[0]);
        const target: AuditTarget = iss === undefined ? {} : { clientId: bounded(iss), clientUnverified: true };
        if (refusal) target.refusal = refusal;
        return { ok: false, clientId, error, reason, target };
      };
      for (const name of FIELDS) {
        if ((fields.get(name)?.length ?? 0) > 1) return refuse(apiError('OAUTH_INVALID_REQUEST', `The parameter ${name} is repeated.`), `${name} repeated`);
      }
      const field = (name: (typeof FIELDS)[number]): string | undefined => fields.get(name)?.[0];
      const grantType = field('grant_type');
      if (grantType === undefined) return refuse(apiError('OAUTH_INVALID_REQUEST', 'The parameter grant_type is missing.'), 'no grant_type');
      if (grantType !== CLIENT_CREDENTIALS) return refuse(apiError('OAUTH_UNSUPPORTED_GRANT_TYPE'), `grant_type ${grantType}`);
      if (field('client_assertion_type') !== JWT_BEARER_ASSERTION) {
        return refuse(apiError('OAUTH_INVALID_REQUEST', `The parameter client_assertion_type must be ${JWT_BEARER_ASSERTION}.`), 'client_assertion_type');
      }
      const assertion = field('client_assertion');
      if (assertion === undefined || assertion === '') {
        return refuse(apiError('OAUTH_INVALID_REQUEST', 'The parameter client_assertion is missing.'), 'no client_assertion');
      }
      let proven: Awaited<ReturnType<typeof authenticate>>;
      try {
        proven = await authenticate(assertion, field('client_id'));
      } catch (error) {
        if (!(error instanceof TokenRefused)) throw error;
        // Not proven: the caller stays unauthenticated. The log names the client only when it
        // exists; the trail names whatever the assertion claims, flagged as unverified.
        const iss = parseIssuer(assertion);
        const known = iss !== undefined && (await store.oauthClient(iss)) ? iss : null;
        return refuse(apiError('OAUTH_INVALID_CLIENT'), error.message, iss === undefined || known ? 'invalid_assertion' : 'unknown_client', known);
      }
      const { client, jti, exp } = proven;
      // Proven by its assertion: from here on the caller is this client.
      actor.kind = 'oauth_client';
      actor.subject = client.clientId;
      const asClient = (error: ApiError, reason: string, refusal: TokenRefusal, scope: string): GrantResult =>
        ({ ok: false, clientId: client.clientId, error, reason, target: { clientId: client.clientId, scope, refusal } });
      const scopes = grantedScopes(client, field('scope'));
      if ('refused' in scopes) {
        const name = scopes.refused.slice(0, MAX_CLAIM_LENGTH);
        return asClient(apiError('OAUTH_INVALID_SCOPE', name), `scope ${scopes.refused} refused`, 'scope_not_allowed', bounded(scopes.refused));
      }
      const token = await issue(actor, client, jti, exp, scopes);
      if (token === null) return asClient(apiError('OAUTH_INVALID_CLIENT'), 'jti replayed', 'replayed_assertion', scopes.join(' '));
      return {
        ok: true,
        clientId: client.clientId,
        body: { access_token: token, token_type: 'Bearer', expires_in: ACCESS_TOKEN_LIFETIME_SECONDS, scope: scopes.join(' ') },
      };
    },

    /**
     * The principal of an access token (RFC 9068 §4), or a TokenRefused naming why not. A token
     * verified once is cached until its `exp`; its client is looked up on every call, so that a
     * deleted client's tokens are refused at once.
     */
    async verifyAccessToken(token: string): Promise<Principal & { kind: 'client' }> {
      const now = clock.now() / 1000;
      const cached = cache.get(token);
      if (cached) {
        if (now <= cached.refuseAfter && (await store.oauthClient(cached.principal.subject))) return cached.principal;
        cache.delete(token);
      }
      const { header, claims, signingInput, signature } = parseCompactJws(token);
      if (header.alg !== 'ES256') throw new TokenRefused(`access token alg ${JSON.stringify(header.alg)} is not ES256`);
      if (typeof header.typ !== 'string' || !ACCESS_TOKEN_TYPES.has(header.typ.toLowerCase())) throw new TokenRefused('typ is not at+jwt');
      if (typeof header.kid !== 'string') throw new TokenRefused('no kid');
      const key = await signingKeys.forKid(header.kid);
      if (!key) throw new TokenRefused('kid names no signing key of this server');
      if (key.notAfter !== null && now > key.notAfter) throw new TokenRefused('signing key retired');
      if (!verifyJws('ES256', key.publicKey, signingInput, signature)) throw new TokenRefused('bad signature');

      const { issuer, audience } = urlsNow();
      if (claims.iss !== issuer) throw new TokenRefused('iss is not this issuer');
      if (!auds(claims.aud).includes(audience)) throw new TokenRefused('aud is not this API');
      const sub = claims.sub;
      if (typeof sub !== 'string' || sub === '') throw new TokenRefused('claim sub is missing');
      if (claims.client_id !== undefined && claims.client_id !== sub) throw new TokenRefused('client_id is not sub');
      if (typeof claims.scope !== 'string') throw new TokenRefused('claim scope is missing');
      const exp = numericClaim(claims, 'exp');
      const iat = numericClaim(claims, 'iat');
      if (now > exp + CLOCK_SKEW_SECONDS) throw new TokenRefused('expired');
      if (iat > now + CLOCK_SKEW_SECONDS) throw new TokenRefused('issued in the future');
      if (exp - iat > ACCESS_TOKEN_LIFETIME_SECONDS + TOKEN_LIFETIME_TOLERANCE_SECONDS) throw new TokenRefused('lifetime over an hour');
      // A retired key signs nothing more: a token it signed later was not made by this server.
      if (key.retiredAt !== null && iat > key.retiredAt + CLOCK_SKEW_SECONDS) throw new TokenRefused('signed after its key was retired');
      if (!(await store.oauthClient(sub))) throw new TokenRefused('client deleted or unknown');

      const principal = { kind: 'client', subject: sub, role: null, scopes: new Set(claims.scope.split(' ')) } as const;
      if (cacheSize > 0) {
        if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
        cache.set(token, { principal, refuseAfter: exp + CLOCK_SKEW_SECONDS });
      }
      return principal;
    },
  };
}

/** The `iss` an assertion claims, unverified: to name the client it claims in the trail and the log. */
function parseIssuer(assertion: string | undefined): string | undefined {
  if (assertion === undefined || assertion === '') return undefined;
  try {
    const iss = parseCompactJws(assertion).claims.iss;
    return typeof iss === 'string' && iss !== '' && !iss.includes('\u0000') ? iss : undefined;
  } catch {
    return undefined;
  }
}

export type OAuthServer = ReturnType<typeof makeOAuthServer>;
