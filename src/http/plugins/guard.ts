import type { FastifyInstance, FastifyReply } from 'fastify';
import { headerType } from '../../auth/jws.ts';
import { ACCESS_TOKEN_TYPES, type OAuthServer } from '../../auth/oauth.ts';
import { TokenRefused, bearerToken, type ClientPrincipal, type KeyPrincipal, type Principal, type RefusalKind, type TokenVerifier } from '../../auth/token.ts';
import { apiError, type ErrorName } from '../../errors.ts';
import type { RateDecision, RateLimiter, RatePolicy } from '../../ratelimit/limiter.ts';
import { forEndpointRoutes } from '../context.ts';
import { sendError } from './errors.ts';

export interface GuardOptions {
  verifier: TokenVerifier;
  oauth: OAuthServer;
  limiter: RateLimiter;
  perAddress: RatePolicy;
  perKey: RatePolicy;
}

/** The 403 a refused token gets, by what its client may be told (contract 1, error bodies). */
const TOKEN_REFUSAL = {
  expired: 'TOKEN_EXPIRED',
  audience: 'TOKEN_AUDIENCE',
  unknownAccessId: 'UNKNOWN_ACCESS_ID',
  invalid: 'TOKEN_REFUSED',
} as const satisfies Record<RefusalKind, ErrorName>;

function setRateHeaders(reply: FastifyReply, d: RateDecision): void {
  reply.header('RateLimit-Limit', d.limit);
  reply.header('RateLimit-Remaining', d.remaining);
  reply.header('RateLimit-Reset', d.resetSeconds);
}

/**
 * Everything a call to the API passes before its body is even parsed, in this order:
 * 1. the per-address rate limit, so that a flood of bad tokens cannot burn CPU on signatures;
 * 2. the token, told apart by its header's `typ` alone (`at+jwt`: an OAuth access token,
 *    contract 10; anything else: a key JWT, spec 2), and checked by that one verifier only. A
 *    refused key JWT gets a Spring-shaped 403 whose message depends on the refusal's kind only; a
 *    refused access token a 401 with `WWW-Authenticate: Bearer error="invalid_token"`; the reason
 *    goes to the log;
 * 3. what the caller may do: a key's role (the endpoint's `roles`, contract 3), an access token's
 *    scopes (the endpoint's `scope`; else 403 with `error="insufficient_scope"`);
 * 4. the per-key (or per-client) rate limit, whose state the `RateLimit-*` headers report.
 * A refused call ends here, so it changes nothing.
 */
export function installGuard(app: FastifyInstance, { verifier, oauth, limiter, perAddress, perKey }: GuardOptions): void {
  const refuseRate = (request: Parameters<typeof sendError>[0], reply: FastifyReply, d: RateDecision) => {
    setRateHeaders(reply, d);
    reply.header('Retry-After', d.retryAfterSeconds);
    return sendError(request, reply, apiError('TOO_MANY_REQUESTS'));
  };

  forEndpointRoutes(app, 'onRequest', ({ roles, scope }) => async (request, reply) => {
    const byAddress = await limiter.take(`addr:${request.ip}`, perAddress);
    if (!byAddress.allowed) return refuseRate(request, reply, byAddress);

    const authorization = request.headers.authorization;
    const bearer = bearerToken(authorization);
    let principal: Principal;
    if (bearer !== null && ACCESS_TOKEN_TYPES.has(headerType(bearer) ?? '')) {
      let client: ClientPrincipal;
      try {
        client = await oauth.verifyAccessToken(bearer);
      } catch (error) {
        if (!(error instanceof TokenRefused)) throw error;
        request.log.info({ reason: error.message }, 'OAuth access token refused');
        reply.header('WWW-Authenticate', 'Bearer error="invalid_token"');
        return sendError(request, reply, apiError('INVALID_ACCESS_TOKEN'));
      }
      principal = request.principal = client;
      if (!client.scopes.has(scope)) {
        request.log.info({ subject: client.subject, scope }, 'access token lacks the scope of this endpoint');
        reply.header('WWW-Authenticate', `Bearer error="insufficient_scope", scope="${scope}"`);
        return sendError(request, reply, apiError('NOT_AUTHORIZED'));
      }
    } else {
      let key: KeyPrincipal;
      try {
        key = await (bearer === null ? verifier.verify(authorization) : verifier.verifyBearer(bearer));
      } catch (error) {
        if (!(error instanceof TokenRefused)) throw error;
        request.log.info({ reason: error.message }, 'access token refused');
        return sendError(request, reply, apiError(TOKEN_REFUSAL[error.kind]));
      }
      principal = request.principal = key;
      if (!roles.includes(key.role)) {
        request.log.info({ subject: key.subject, role: key.role }, 'role may not call this endpoint');
        return sendError(request, reply, apiError('NOT_AUTHORIZED'));
      }
    }

    const byKey = await limiter.take(`${principal.kind === 'key' ? 'key' : 'client'}:${principal.subject}`, perKey);
    if (!byKey.allowed) return refuseRate(request, reply, byKey);
    setRateHeaders(reply, byKey);
  });
}
