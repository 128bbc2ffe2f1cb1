import type { FastifyContextConfig, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { OperationKind } from '../auth/roles.ts';
import type { Principal } from '../auth/token.ts';
import type { Actor } from '../domain/types.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The audit trail's name for the call, e.g. `ds100.enable`. Routes without one are not audited or authenticated. */
    operation?: string;
    /** What the call does, which decides the roles that may make it. */
    kind?: OperationKind;
  }
  interface FastifyRequest {
    principal: Principal | null;
    /** True once the call's audit event was written (in the transaction of its change, or by the audit plugin). */
    audited: boolean;
    /** True once the client closed the connection before the answer was written to it. */
    hungUp: boolean;
  }
}

/**
 * Adds `hook` to every route that declares `config[key]`, as a hook of that route alone, given
 * the declared value. Route-level hooks skip the other routes at no cost, and spare each request
 * a look at `request.routeOptions` (a getter that builds a new object on every call).
 */
export function forRoutesWith<K extends 'kind' | 'operation', H extends 'onRequest' | 'preParsing' | 'onSend' | 'onResponse'>(
  app: FastifyInstance,
  key: K,
  stage: H,
  hook: (value: NonNullable<FastifyContextConfig[K]>) => NonNullable<RouteOptions[H]> extends Array<infer F> | infer F ? F : never,
): void {
  app.addHook('onRoute', (route) => {
    const value = route.config?.[key];
    if (value === undefined) return;
    const existing = route[stage];
    (route as Record<H, unknown>)[stage] = [...(existing ? [existing].flat() : []), hook(value as NonNullable<FastifyContextConfig[K]>)];
  });
}

/** The audit trail's view of who is calling. */
export function actorOf(request: FastifyRequest): Actor {
  return {
    subject: request.principal?.subject ?? null,
    role: request.principal?.role ?? null,
    clientAddress: request.ip,
    requestId: request.id,
  };
}

/** Like `actorOf`, for calls that authentication has already let through. */
export function authenticatedActor(request: FastifyRequest): Actor & { subject: string } {
  if (!request.principal) throw new Error('route reached without a principal');
  return { subject: request.principal.subject, role: request.principal.role, clientAddress: request.ip, requestId: request.id };
}
