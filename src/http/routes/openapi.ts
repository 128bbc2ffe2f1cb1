import type { FastifyInstance, RouteOptions } from 'fastify';
import { mayPerform, type OperationKind } from '../../auth/roles.ts';
import { ROLES } from '../../domain/types.ts';
import { OPERATION_EXAMPLES, errorExamples } from '../openapi-examples.ts';
import { namedSchemas } from '../schemas.ts';

export const API_PREFIX = '/AdminInterface/restapi';

interface CollectedRoute {
  method: string;
  url: string;
  schema: Record<string, unknown>;
  operation: string;
  kind: OperationKind;
}

/** What each error status means for a call (docs/contract.md#1-shape-of-the-api). */
const ERROR_DESCRIPTIONS: Record<string, string> = {
  400: 'The body is not JSON, not an object, has a property missing or one too many, or a property breaks its rule.',
  403: 'The token was refused, or its role may not call this operation.',
  404: 'What the body names does not exist.',
  413: 'The body is larger than 16 KiB.',
  429: 'A rate limit (per client address or per API key) refused the call; nothing changed.',
  500: 'An internal error; the detail is in the server log under the X-Request-Id of the answer.',
};

const integerHeader = (description: string) => ({ description, schema: { type: 'integer', minimum: 0 } });
const RATE_LIMIT_HEADERS = {
  'Retry-After': integerHeader('Seconds until one more request is allowed.'),
  'RateLimit-Limit': integerHeader('Capacity of the bucket that refused.'),
  'RateLimit-Remaining': integerHeader('Requests left in that bucket.'),
  'RateLimit-Reset': integerHeader('Seconds until that bucket is full again.'),
};

/** `schema` with every named shape in it (itself included, unless `top` is its own name) replaced by a `$ref`. */
function withRefs(schema: unknown, names: Map<unknown, string>, top?: string): unknown {
  const name = names.get(schema);
  if (name !== undefined && name !== top) return { $ref: `#/components/schemas/${name}` };
  if (Array.isArray(schema)) return schema.map((s) => withRefs(s, names));
  if (typeof schema !== 'object' || schema === null) return schema;
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, withRefs(v, names)]));
}

/**
 * OpenAPI 3.1 made from the route schemas themselves, served at `{prefix}/openapi.json`. Routes
 * are collected as they are registered, so a route cannot be missing from the document. Each
 * operation carries the vendor's examples (src/http/openapi-examples.ts) and every error answer
 * it can give, in its wire shape.
 */
export function installOpenApi(app: FastifyInstance, info: { version: string }): void {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const { operation, kind } = route.config ?? {};
    if (!operation || !kind || !route.schema) return;
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      routes.push({ method: method.toLowerCase(), url: route.url, schema: route.schema as Record<string, unknown>, operation, kind });
    }
  });

  let document: object | undefined;
  const build = (): object => {
    const names = new Map<unknown, string>(Object.entries(namedSchemas).map(([name, schema]) => [schema, name]));
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of routes) {
      const path = r.url.startsWith(API_PREFIX) ? r.url.slice(API_PREFIX.length) : r.url;
      const examples = OPERATION_EXAMPLES[r.operation];
      const refusedByRole = ROLES.some((role) => !mayPerform(role, r.kind));
      const responses: Record<string, unknown> = {};
      for (const [status, schema] of Object.entries((r.schema.response ?? {}) as Record<string, Record<string, unknown>>)) {
        const success = status === '200';
        const empty = schema.type === 'null';
        const statusExamples = success ? examples?.response : errorExamples(r.operation, Number(status), refusedByRole, r.url);
        responses[status] = {
          description: (schema.description as string | undefined) ?? (success ? 'OK' : (ERROR_DESCRIPTIONS[status] ?? 'Error')),
          ...(status === '429' ? { headers: RATE_LIMIT_HEADERS } : {}),
          ...(empty ? {} : { content: { 'application/json': { schema: withRefs(schema, names), ...(statusExamples ? { examples: statusExamples } : {}) } } }),
        };
      }
      (paths[path] ??= {})[r.method] = {
        operationId: r.operation,
        summary: r.schema.summary,
        tags: r.schema.tags,
        security: [{ adminJwt: [] }],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: withRefs(r.schema.body, names), ...(examples ? { examples: examples.request } : {}) } },
        },
        responses,
      };
    }
    return {
      openapi: '3.1.0',
      info: { title: 'SecurID Cloud Administration API: DS100 (ds100-admin)', version: info.version },
      servers: [{ url: API_PREFIX }],
      components: {
        schemas: Object.fromEntries(Object.entries(namedSchemas).map(([name, schema]) => [name, withRefs(schema, names, name)])),
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
