import type { FastifyInstance, FastifyReply } from 'fastify';
import { TokenRefused, type RefusalKind, type TokenVerifier } from '../../auth/token.ts';
import { apiError, type ErrorName } from '../../errors.ts';
import type { RateDecision, RateLimiter, RatePolicy } from '../../ratelimit/limiter.ts';
import { forEndpointRoutes } from '../context.ts';
import { sendError } from './errors.ts';

export interface GuardOptions {
  verifier: TokenVerifier;
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
 * 2. the token (spec 2): a failure is a Spring-shaped 403 whose message depends on the
 *    refusal's kind only, the reason is logged;
 * 3. the role (the endpoint's `roles`, contract 3);
 * 4. the per-key rate limit, whose state the `RateLimit-*` headers report.
 * A refused call ends here, so it changes nothing.
 */
export function installGuard(app: FastifyInstance, { verifier, limiter, perAddress, perKey }: GuardOptions): void {
  const refuseRate = (request: Parameters<typeof sendError>[0], reply: FastifyReply, d: RateDecision) => {
    setRateHeaders(reply, d);
    reply.header('Retry-After', d.retryAfterSeconds);
    return sendError(request, reply, apiError('TOO_MANY_REQUESTS'));
  };

  forEndpointRoutes(app, 'onRequest', ({ roles }) => async (request, reply) => {
    const byAddress = await limiter.take(`addr:${request.ip}`, perAddress);
    if (!byAddress.allowed) return refuseRate(request, reply, byAddress);

    try {
      request.principal = await verifier.verify(request.headers.authorization);
    } catch (error) {
      if (!(error instanceof TokenRefused)) throw error;
      request.log.info({ reason: error.message }, 'access token refused');
      return sendError(request, reply, apiError(TOKEN_REFUSAL[error.kind]));
    }
    if (!roles.includes(request.principal.role)) {
      request.log.info({ subject: request.principal.subject, role: request.principal.role }, 'role may not call this endpoint');
      return sendError(request, reply, apiError('NOT_AUTHORIZED'));
    }

    const byKey = await limiter.take(`key:${request.principal.subject}`, perKey);
    if (!byKey.allowed) return refuseRate(request, reply, byKey);
    setRateHeaders(reply, byKey);
  });
}
