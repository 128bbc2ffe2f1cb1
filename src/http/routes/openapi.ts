import type { FastifyInstance } from 'fastify';
import { endpoints, type Endpoint } from '../../contract/endpoints.ts';
import { OAUTH_ISSUER_PATH, REST_BASE_PATH } from '../../contract/limits.ts';
import { ROLES, SCOPES, WIRE_TYPES, errorResponses, type Scope } from '../../contract/schemas.ts';
import { VERSION } from '../../contract/version.ts';
import { OPERATION_EXAMPLES, errorExamples } from '../openapi-examples.ts';

/** What each error status means for a call (docs/contract.md#1-shape-of-the-api). */
const ERROR_DESCRIPTIONS: Record<string, string> = {
  400: 'The body is not JSON, not an object, has a property missing or one too many, or a property breaks its rule.',
  401: 'An OAuth access token was refused (malformed, badly signed, expired, of a deleted client or a retired key); get a new one.',
  403: 'A key JWT was refused, or its role (or the access token\'s scopes) may not call this operation.',
  404: 'What the body names does not exist.',
  413: 'The body is larger than 16 KiB.',
  429: 'A rate limit (per client address or per API key) refused the call; nothing changed.',
  500: 'An internal error; the detail is in the server log under the X-Request-Id of the answer.',
};

const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  'rsa.authenticator.ds100.manage': 'Enable, disable and clear the PIN of DS100 OTP credentials',
  'rsa.authenticator.ds100.delete': 'Delete DS100 OTP credentials',
  'rsa.authenticator.ds100.read': 'Look up DS100 OTP credentials',
  'rsa.user.read': 'Look up users',
  'rsa.audit.admin': 'Export the administration event log',
  'rsa.audit.user': 'Export the user event log',
};

const integerHeader = (description: string) => ({ description, schema: { type: 'integer', minimum: 0 } });
const challenge = (description: string) => ({ 'WWW-Authenticate': { description, schema: { type: 'string' } } });
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
 * OpenAPI 3.1 made from the contract's endpoint table (src/contract), served at
 * `{REST base}/openapi.json`: the routes are registered from the same table, so the document
 * cannot miss one. Each operation carries the vendor's examples (src/http/openapi-examples.ts)
 * and every error answer it can give, in its wire shape.
 */
export function buildOpenApi(): object {
  const names = new Map<unknown, string>(Object.entries(WIRE_TYPES).map(([name, schema]) => [schema, name]));
  const paths: Record<string, Record<string, unknown>> = {};
  for (const e of Object.values(endpoints)) {
    const examples = OPERATION_EXAMPLES[e.operationId];
    const refusedByRole = ROLES.some((role) => !(e.roles as readonly string[]).includes(role));
    const answers: Record<string, object | null> = { 200: e.response, ...errorResponses };
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(answers)) {
      const success = status === '200';
      const statusExamples = success ? examples?.response : errorExamples(e.operationId, Number(status), refusedByRole, `${REST_BASE_PATH}${e.path}`);
      responses[status] = {
        description: success ? (schema === null ? 'Done; the body is empty' : 'OK') : (ERROR_DESCRIPTIONS[status] ?? 'Error'),
        ...(status === '429' ? { headers: RATE_LIMIT_HEADERS } : {}),
        ...(status === '401' ? { headers: challenge('`Bearer error="invalid_token"`') } : {}),
        ...(status === '403' ? { headers: challenge(`To an access token without the scope: \`Bearer error="insufficient_scope", scope="${e.scope}"\``) } : {}),
        ...(schema === null ? {} : { content: { 'application/json': { schema: withRefs(schema, names), ...(statusExamples ? { examples: statusExamples } : {}) } } }),
      };
    }
    const endpoint: Endpoint = e;
    const query = endpoint.query as { properties?: Record<string, { description?: string }> } | undefined;
    (paths[e.path] ??= {})[e.method.toLowerCase()] = {
      operationId: e.operationId,
      summary: e.summary,
      ...(endpoint.aliases ? { description: `Also served at ${endpoint.aliases.map((a) => `\`${a}\``).join(', ')}.` } : {}),
      tags: [e.tag],
      security: [{ adminJwt: [] }, { oauth2: [endpoint.scope] }],
      ...(query
        ? {
            parameters: Object.entries(query.properties ?? {}).map(([name, schema]) => ({
              name,
              in: 'query',
              required: false,
              ...(schema.description ? { description: schema.description } : {}),
              schema: { type: 'string' },
            })),
          }
        : {}),
      ...(endpoint.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: withRefs(endpoint.body, names), ...(examples ? { examples: examples.request } : {}) } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'SecurID Cloud Administration API: DS100 (ds100-admin)', version: VERSION },
    servers: [{ url: REST_BASE_PATH }],
    components: {
      schemas: Object.fromEntries(Object.entries(WIRE_TYPES).map(([name, schema]) => [name, withRefs(schema, names, name)])),
      securitySchemes: {
        adminJwt: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'RS256 JWT signed with the private key of an Administration API key file',
        },
        oauth2: {
          type: 'oauth2',
          description: 'OAuth 2.0 client credentials with private_key_jwt client authentication (RFC 7523); the access token is a Bearer JWT',
          flows: {
            clientCredentials: {
              tokenUrl: `${OAUTH_ISSUER_PATH}/token`,
              scopes: Object.fromEntries(SCOPES.map((s) => [s, SCOPE_DESCRIPTIONS[s]])),
            },
          },
        },
      },
    },
    paths,
  };
}

export function installOpenApi(app: FastifyInstance): void {
  let document: object | undefined;
  app.get(`${REST_BASE_PATH}/openapi.json`, async () => (document ??= buildOpenApi()));
}
