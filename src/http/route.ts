import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Endpoint } from '../contract/endpoints.ts';
import { REST_BASE_PATH } from '../contract/limits.ts';
import { errorResponses } from '../contract/schemas.ts';

type Answer<E extends Endpoint> = E['response'] extends TSchema ? Static<E['response']> : void;

/** A handler typed by its endpoint: the body its schema validated, the answer its schema serializes. */
type Body<E extends Endpoint> = E['body'] extends TSchema ? Static<E['body']> : undefined;
export type EndpointHandler<E extends Endpoint> = (request: FastifyRequest & { body: Body<E> }, reply: FastifyReply) => Promise<Answer<E>>;

export interface ApiRoute {
  endpoint: Endpoint;
  handler: EndpointHandler<Endpoint>;
}

/** Pairs an endpoint of the contract with what answers it; `registerApiRoutes` does the rest. */
export const apiRoute = <E extends Endpoint>(endpoint: E, handler: EndpointHandler<E>): ApiRoute =>
  ({ endpoint, handler }) as unknown as ApiRoute;

/**
 * Registers each route at its endpoint's method and path, with the endpoint's schemas for
 * validation and serialization and the endpoint itself in the route's config, where the guard
 * (roles), the audit trail (operation name) and the OpenAPI document find it.
 */
export function registerApiRoutes(app: FastifyInstance, routes: ApiRoute[]): void {
  for (const { endpoint, handler } of routes) {
    for (const path of [endpoint.path, ...(endpoint.aliases ?? [])]) {
      app.route({
        method: endpoint.method,
        url: `${REST_BASE_PATH}${path}`,
        schema: {
          ...(endpoint.body ? { body: endpoint.body } : {}),
          response: { 200: endpoint.response ?? { type: 'null' }, ...errorResponses },
        },
        config: { endpoint },
        handler:
          endpoint.response === null
            ? async (request, reply) => {
                await handler(request as never, reply);
                return reply.code(200).send();
              }
            : (request, reply) => handler(request as never, reply),
      });
    }
  }
}
