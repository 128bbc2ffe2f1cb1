import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAUTH_ISSUER_PATH } from '../../contract/limits.ts';
import type { OAuthServer } from '../../auth/oauth.ts';
import type { SigningKeys } from '../../auth/signing-keys.ts';
import { auditEvent, markAudited } from '../../domain/audit.ts';
import type { Clock } from '../../domain/clock.ts';
import type { Store } from '../../domain/store.ts';
import type { Actor, AuditOutcome, AuditTarget } from '../../domain/types.ts';
import { ApiError, apiError } from '../../errors.ts';
import type { RateLimiter, RatePolicy } from '../../ratelimit/limiter.ts';

export interface OAuthRouteDeps {
  oauth: OAuthServer;
  signingKeys: SigningKeys;
  store: Store;
  clock: Clock;
  limiter: RateLimiter;
  /** The API's per-address policy: the token endpoint draws on the same bucket. */
  perAddress: RatePolicy;
}

const FORM = 'application/x-www-form-urlencoded';
/** The charsets a form body may name: URL encoding leaves ASCII only, read as UTF-8. */
const CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);

function outcomeOf(status: number): AuditOutcome {
  if (status === 200) return 'changed';
  if (status === 401) return 'denied';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'error';
  return 'invalid';
}

/** Whether a Content-Type is a form, a `charset` parameter allowed and nothing else (contract 10). */
function isForm(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const [type, ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  if (type !== FORM) return false;
  return params.every((p) => {
    const m = /^charset="?([^"]*)"?$/.exec(p);
    return m !== null && CHARSETS.has(m[1]!);
  });
}

/** Every name of a form body with each of its values, in order (`+` read as a space). */
function formFields(body: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(body)) {
    const values = fields.get(name);
    if (values) values.push(value);
    else fields.set(name, [value]);
  }
  return fields;
}

/**
 * The OAuth authorization server's routes (contract 10): the token endpoint, its RFC 8414
 * metadata (at the issuer's well-known path and at the RFC's own form of it), and the JWKS. They
 * live in a scope of their own, so that the form parser and the RFC 6749 error shape never reach
 * the API's routes. Each token request, issued or refused, is one `oauth.token` audit event.
 */
export function oauthRoutes({ oauth, signingKeys, store, clock, limiter, perAddress }: OAuthRouteDeps) {
  return async (scope: FastifyInstance): Promise<void> => {
    const actors = new WeakMap<FastifyRequest, Actor>();
    const actorOf = (request: FastifyRequest): Actor => {
      let actor = actors.get(request);
      if (!actor) {
        // Unauthenticated until the assertion proves a client (OAuthServer.grant).
        actor = { kind: 'unauthenticated', subject: null, role: null, clientAddress: request.ip, requestId: request.id };
        actors.set(request, actor);
      }
      return actor;
    };
    const refuse = (request: FastifyRequest, reply: FastifyReply, error: ApiError, target: AuditTarget = {}): FastifyReply => {
      const actor = actorOf(request);
      if (markAudited(actor)) store.recordAudit(auditEvent(actor, clock.nowIso(), 'oauth.token', target, outcomeOf(error.status), error.status));
      reply.header('Pragma', 'no-cache');
      return reply.code(error.status).send({ error: error.oauth ?? 'invalid_request', error_description: error.description });
    };

    // Whatever the body, it is read as text here and judged by the handler: JSON or any other
    // type is an invalid_request in the RFC 6749 shape, not the API's 400.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    scope.setErrorHandler((error, request, reply) => {
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== undefined && status >= 400 && status < 500) {
        request.log.info({ err: { code: (error as { code?: string }).code, message: (error as Error).message } }, 'token request refused by the HTTP layer');
        return refuse(request, reply, apiError('OAUTH_INVALID_REQUEST', 'The request body could not be read.'));
      }
      request.log.error({ err: error }, 'internal error at the token endpoint');
      return refuse(request, reply, apiError('OAUTH_SERVER_ERROR'));
    });

    scope.post(`${OAUTH_ISSUER_PATH}/token`, {
      onRequest: async (request, reply) => {
        const byAddress = await limiter.take(`addr:${request.ip}`, perAddress);
        if (byAddress.allowed) return;
        reply.header('Retry-After', byAddress.retryAfterSeconds);
        return refuse(request, reply, apiError('OAUTH_RATE_LIMITED'));
      },
      handler: async (request, reply) => {
        if (!isForm(request.headers['content-type']) || typeof request.body !== 'string') {
          return refuse(request, reply, apiError('OAUTH_INVALID_REQUEST', `The request must be sent as ${FORM}.`));
        }
        const actor = actorOf(request);
        const result = await oauth.grant(formFields(request.body), actor);
        if (!result.ok) {
          request.log.info({ client: result.clientId, reason: result.reason }, 'token request refused');
          return refuse(request, reply, result.error, result.target);
        }
        markAudited(actor);
        reply.header('Pragma', 'no-cache');
        return reply.code(200).send(result.body);
      },
    });

    const metadata = async () => oauth.metadata();
    scope.get(`${OAUTH_ISSUER_PATH}/.well-known/oauth-authorization-server`, metadata);
    scope.get(`/.well-known/oauth-authorization-server${OAUTH_ISSUER_PATH}`, metadata);
    scope.get(`${OAUTH_ISSUER_PATH}/jwks`, () => signingKeys.jwks());
  };
}
