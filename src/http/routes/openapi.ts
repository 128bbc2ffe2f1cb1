import type { FastifyInstance, RouteOptions } from 'fastify';

export const API_PREFIX = '/AdminInterface/restapi';

interface CollectedRoute {
  method: string;
  url: string;
  schema: Record<string, unknown>;
  operation: string;
}

/**
 * OpenAPI 3.1 made from the route schemas themselves, served at `{prefix}/openapi.json`. Routes
 * are collected as they are registered, so a route cannot be missing from the document.
 */
export function installOpenApi(app: FastifyInstance, info: { version: string }): void {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const operation = route.config?.operation;
    if (!operation || !route.schema) return;
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      routes.push({ method: method.toLowerCase(), url: route.url, schema: route.schema as Record<string, unknown>, operation });
    }
  });

  let document: object | undefined;
  const build = (): object => {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of routes) {
      const path = r.url.startsWith(API_PREFIX) ? r.url.slice(API_PREFIX.length) : r.url;
      const responses: Record<string, unknown> = {};
      for (const [status, schema] of Object.entries((r.schema.response ?? {}) as Record<string, Record<string, unknown>>)) {
        const empty = schema.type === 'null';
        responses[status] = {
          description: (schema.description as string | undefined) ?? (status === '200' ? 'OK' : 'Error'),
          ...(empty ? {} : { content: { 'application/json': { schema } } }),
        };
      }
      (paths[path] ??= {})[r.method] = {
        operationId: r.operation,
        summary: r.schema.summary,
        tags: r.schema.tags,
        security: [{ adminJwt: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: r.schema.body } } },
        responses,
      };
    }
    return {
      openapi: '3.1.0',
      info: { title: 'SecurID Cloud Administration API: DS100 (ds100-admin)', version: info.version },
      servers: [{ url: API_PREFIX }],
      components: {
        securitySchemes: {
          adminJwt: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'RS256 JWT signed with the private key of an Administration API key file',
          },
        },
      },
      paths,
    };
  };

  app.get(`${API_PREFIX}/openapi.json`, async () => (document ??= build()));
}
