import type { FastifyContextConfig, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { Endpoint } from '../contract/endpoints.ts';
import type { Principal } from '../auth/token.ts';
import type { Actor } from '../domain/types.ts';
import type { Clock } from '../domain/clock.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The time every check and timestamp of this server uses (buildApp's `clock`). */
    clock: Clock;
  }
  interface FastifyContextConfig {
    /** The contract's endpoint a route serves. Routes without one are not authenticated or audited. */
    endpoint?: Endpoint;
  }
  interface FastifyRequest {
    principal: Principal | null;
    /** The audit trail's view of the caller, made once per request (`actorOf`). */
    actor: Actor | null;
    /** True once the client closed the connection before the answer was written to it. */
    hungUp: boolean;
  }
}

/**
 * Adds `hook` to every route that serves an endpoint, as a hook of that route alone, given the
 * endpoint. Route-level hooks skip the other routes at no cost, and spare each request a look at
 * `request.routeOptions` (a getter that builds a new object on every call).
 */
export function forEndpointRoutes<H extends 'onRequest' | 'preParsing' | 'onSend' | 'onResponse'>(
  app: FastifyInstance,
  stage: H,
  hook: (endpoint: NonNullable<FastifyContextConfig['endpoint']>) => NonNullable<RouteOptions[H]> extends Array<infer F> | infer F ? F : never,
): void {
  app.addHook('onRoute', (route) => {
    const endpoint = route.config?.endpoint;
    if (endpoint === undefined) return;
    const existing = route[stage];
    (route as Record<H, unknown>)[stage] = [...(existing ? [existing].flat() : []), hook(endpoint)];
  });
}

/**
 * The audit trail's view of who is calling: one object per request, so that the domain can mark
 * it once the call's event is committed and the audit hook sees that mark (domain/audit.ts).
 * Made at the first call, which comes after the guard has set the principal.
 */
export function actorOf(request: FastifyRequest): Actor {
  if (request.actor) return request.actor;
  const principal = request.principal;
  return (request.actor = {
    // Said outright from the principal: an OAuth client has no role, and no role alone is not the command line.
    kind: !principal ? 'unauthenticated' : principal.kind === 'key' ? 'administrator' : 'oauth_client',
    subject: principal?.subject ?? null,
    role: principal?.role ?? null,
    clientAddress: request.ip,
    requestId: request.id,
  });
}

/** Like `actorOf`, for calls that authentication has already let through. */
export function authenticatedActor(request: FastifyRequest): Actor & { subject: string } {
  if (!request.principal) throw new Error('route reached without a principal');
  return actorOf(request) as Actor & { subject: string };
}
