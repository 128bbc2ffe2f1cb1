/**
 * The OpenAPI document the server serves (docs/contract.md#1-shape-of-the-api), fetched over HTTP
 * from a real server: a valid OpenAPI 3.1 document by a maintained validator, naming every
 * operation with its security and every answer it can give, and carrying the vendor's examples,
 * which are exactly the fixtures' values (with the corrections each example names) and agree with
 * the schemas they illustrate.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { compileErrors, dereference, validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { OpenAPIV3_1 } from 'openapi-types';
import { EXAMPLE_ACCESS_ID } from '../../src/http/openapi-examples.ts';
import { API } from '../support/server.ts';
import { call, useServer } from './setup.ts';
import { BODY_LIMIT, ENDPOINTS, FORBIDDEN_KEYS, assertWire, errors, fixtures, type Endpoint, type FixtureExample } from './wire.ts';

const context = useServer({ demo: true });

interface Example {
  summary: string;
  description?: string;
  value: unknown;
}
interface Media {
  schema: Record<string, unknown>;
  examples?: Record<string, Example>;
}
interface Operation {
  operationId: string;
  security: unknown;
  requestBody: { required: boolean; content: Record<string, Media> };
  responses: Record<string, { description: string; headers?: Record<string, unknown>; content?: Record<string, Media> }>;
}
type Document = OpenAPIV3_1.Document & { paths: Record<string, Record<string, Operation>> };

const ERROR_STATUSES = ['400', '401', '403', '404', '413', '429', '500'];
const endpoints: Endpoint[] = Object.values(ENDPOINTS);
/** The scope an OAuth access token needs, by operation (contract 10). */
const SCOPE_OF: Record<string, string> = {
  enableOtp: 'rsa.authenticator.ds100.manage',
  disableOtp: 'rsa.authenticator.ds100.manage',
  clearPin: 'rsa.authenticator.ds100.manage',
  deleteOtp: 'rsa.authenticator.ds100.delete',
  lookupDs100: 'rsa.authenticator.ds100.read',
  lookupUser: 'rsa.user.read',
};

/** The document as served, and the same with every `$ref` resolved: fetched once, by the first test that needs it. */
let served: Document;
let resolved: Document;
let fetched: Promise<void> | undefined;
const fetchDocument = async (): Promise<void> => {
  const reply = await context.server.request('GET', `${API}/openapi.json`, undefined, { authorization: null });
  assert.equal(reply.status, 200, reply.text);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
  served = reply.json as Document;
  resolved = (await dereference(structuredClone(served))) as Document;
};
beforeEach(() => (fetched ??= fetchDocument()));

const operationOf = (doc: Document, e: { method: string; path: string }): Operation => {
  const op = doc.paths[e.path]?.[e.method.toLowerCase()];
  assert.ok(op, `${e.method} ${e.path} is documented`);
  return op;
};
const media = (m: { content?: Record<string, Media> } | undefined): Media | undefined => m?.content?.['application/json'];

const ajv = new Ajv2020({ allErrors: true, strict: true });
/** Ajv's complaints about `value` under `schema`, or [] when it is valid. */
function schemaErrors(schema: Record<string, unknown>, value: unknown): string[] {
  const check = ajv.compile(schema);
  return check(value) ? [] : (check.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
}

describe('the served OpenAPI document', () => {
  test('is served without a token, and is a valid OpenAPI 3.1 document for @readme/openapi-parser', async () => {
    assert.match(served.openapi, /^3\.1\.\d+$/);
    const result = await validate(structuredClone(served));
    assert.ok(result.valid, result.valid ? '' : compileErrors(result));
    assert.deepEqual(result.warnings, []);

    // The validator is not a formality: a response without its description is refused.
    const broken = structuredClone(served);
    delete (broken.paths[ENDPOINTS.enable.path]!.patch!.responses['404'] as { description?: string }).description;
    assert.equal((await validate(broken)).valid, false);
  });

  test('lists the six operations and the two exports, each with its operationId, its security and its request body or query', () => {
    const listed = Object.entries(served.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const exports = ['GET /v1/adminlog/exportlogs', 'GET /v1/usereventlog/exportlogs'];
    assert.deepEqual(listed.sort(), [...endpoints.map((e) => `${e.method} ${e.path}`), ...exports].sort());
    for (const path of ['/v1/adminlog/exportlogs', '/v1/usereventlog/exportlogs']) {
      const op = operationOf(resolved, { method: 'GET', path }) as Operation & { parameters: Array<{ name: string; in: string }> };
      assert.equal(op.requestBody, undefined, `${path}: no body`);
      assert.deepEqual(op.parameters.map((p) => `${p.in}:${p.name}`), ['query:startTimeAfter', 'query:endTimeOnOrBefore', 'query:pageNumber', 'query:pageSize']);
    }
    assert.deepEqual(served.components?.securitySchemes?.adminJwt, {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: 'RS256 JWT signed with the private key of an Administration API key file',
    });
    const oauth2 = served.components?.securitySchemes?.oauth2 as { type: string; flows: { clientCredentials: { tokenUrl: string; scopes: object } } };
    assert.equal(oauth2.type, 'oauth2');
    assert.equal(oauth2.flows.clientCredentials.tokenUrl, '/oauth/token');
    assert.deepEqual(Object.keys(oauth2.flows.clientCredentials.scopes), [...new Set(Object.values(SCOPE_OF)), 'rsa.audit.admin', 'rsa.audit.user']);

    for (const e of endpoints) {
      const op = operationOf(resolved, e);
      assert.equal(op.operationId, e.operationId);
      assert.deepEqual(op.security, [{ adminJwt: [] }, { oauth2: [SCOPE_OF[e.operationId]] }], `${e.operation}: security`);
      assert.equal(op.requestBody.required, true, `${e.operation}: the body is required`);
      const schema = media(op.requestBody)!.schema as { type: string; additionalProperties: boolean; properties: object; required?: string[] };
      assert.deepEqual(
        { type: schema.type, additionalProperties: schema.additionalProperties, properties: Object.keys(schema.properties), required: schema.required },
        {
          type: 'object',
          additionalProperties: false,
          properties: Object.keys(e.properties),
          required: Object.entries(e.properties).filter(([, p]) => !p.optional).map(([k]) => k),
        },
        e.operation,
      );
    }
  });

  test('documents every answer of each operation: 200 and each error, in its wire shape, with an example of it', () => {
    for (const e of endpoints) {
      const op = operationOf(resolved, e);
      assert.deepEqual(Object.keys(op.responses).sort(), ['200', ...ERROR_STATUSES], e.operation);
      for (const status of ERROR_STATUSES) {
        const answer = op.responses[status]!;
        assert.ok(answer.description.length > 10, `${e.operation} ${status}: described`);
        const { schema, examples } = media(answer)!;
        const shape = schema as { properties: object; required: string[]; additionalProperties?: unknown };
        const spring = status === '401' || status === '403';
        const keys = spring ? FORBIDDEN_KEYS : ['code', 'description'];
        assert.deepEqual([Object.keys(shape.properties), shape.required], [keys, keys], `${e.operation} ${status}: the error shape`);
        const values = Object.values(examples ?? {}).map((x) => x.value as Record<string, unknown>);
        assert.ok(values.length > 0, `${e.operation} ${status}: an example`);
        for (const v of values) {
          assert.deepEqual(Object.keys(v), keys);
          if (spring) assert.equal(v.status, Number(status));
          else assert.match(v.code as string, new RegExp(`^${status} [A-Z_]+$`), `${e.operation} ${status}`);
        }
      }
      assert.deepEqual(Object.keys(op.responses['429']!.headers ?? {}), ['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']);
    }
  });

  test('names its shapes once, under components, and refers to them', () => {
    const op = operationOf(served, ENDPOINTS.enable);
    assert.deepEqual(media(op.requestBody)!.schema, { $ref: '#/components/schemas/SetStatusRequest' });
    assert.deepEqual(media(op.responses['200'])!.schema, { type: 'array', items: { $ref: '#/components/schemas/StatusItemResponse' } });
    assert.deepEqual(media(op.responses['403'])!.schema, { $ref: '#/components/schemas/ForbiddenResponse' });
    assert.deepEqual(media(op.responses['500'])!.schema, { $ref: '#/components/schemas/ErrorResponse' });
  });
});

describe("the document's examples", () => {
  const fixture = (name: string): FixtureExample => fixtures.examples.find((e) => e.name === name)!;
  const vendorValue = (m: Media | undefined, what: string): unknown => {
    assert.ok(m?.examples?.vendor, `${what}: the vendor's example`);
    return m.examples.vendor.value;
  };
  /** The `sub` of the vendor's published claims example (published with a colon missing, so read by pattern). */
  const publishedSub = /"sub":\s*"([^"]+)"/.exec((fixtures as unknown as { jwtClaimsExample: { published: string } }).jwtClaimsExample.published)![1];

  /**
   * The answer each fixture publishes, with exactly the corrections the examples' descriptions
   * name: "<admin subject>" is the vendor's own example access id, the timestamp typo is
   * mended, and the record the vendor cut off is completed as the server answers it.
   */
  const corrected: Record<string, (e: FixtureExample) => unknown> = {
    enable: (e) => (e.response as Array<Record<string, unknown>>).map((item) => ({ ...item, tokenStatusChangedBy: EXAMPLE_ACCESS_ID })),
    disable: (e) =>
      (e.response as Array<Record<string, string>>).map((item) => ({
        ...item,
        tokenStatusChangedAt: item.tokenStatusChangedAt!.replace(/T(\d\d)(\d\d)(\d\d)/, 'T$1:$2:$3'),
        tokenStatusChangedBy: EXAMPLE_ACCESS_ID,
      })),
    clearPin: (e) => e.response,
    lookup: (e) =>
      (e.response as Array<Record<string, unknown>>).map((record) => ({
        ...record, assignedBy: null, pinSet: false, tokenStatusChangedAt: null, tokenStatusChangedBy: null, deviceSerialNumber: e.request.deviceSerialNumber,
      })),
  };

  test("every request and answer the vendor publishes is in the document, with the fixture's values", () => {
    assert.equal(EXAMPLE_ACCESS_ID, publishedSub, "the stand-in for <admin subject> is the vendor's own example access id");
    assert.deepEqual(fixtures.examples.map((e) => e.name).sort(), ['clearPin', 'delete', 'disable', 'enable', 'lookup']);
    for (const e of fixtures.examples) {
      const op = operationOf(served, e);
      assertWire(vendorValue(media(op.requestBody), `${e.name} request`), e.request);
      if (e.response === null) {
        assert.equal(op.responses['200']!.content, undefined, `${e.name}: an empty answer has no content`);
        continue;
      }
      const { examples } = media(op.responses['200'])!;
      assert.deepEqual(Object.keys(examples ?? {}), ['vendor'], e.name);
      assertWire(vendorValue(media(op.responses['200']), `${e.name} answer`), corrected[e.name]!(e));
    }
    assert.equal((fixture('enable').response as Array<{ tokenStatusChangedBy: string }>)[0]!.tokenStatusChangedBy, '<admin subject>');
    assert.match(media(operationOf(served, fixture('disable')).responses['200'])!.examples!.vendor!.description!, /lacks its colons/);
    assert.match(media(operationOf(served, fixture('lookup')).responses['200'])!.examples!.vendor!.description!, /stops after assignedAt/);
  });

  test("the vendor's error bodies are the fixture's, wherever the document shows them", () => {
    const published = fixtures.errorBodies;
    for (const e of endpoints) {
      const op = operationOf(served, e);
      const vendorError = (status: string) => media(op.responses[status])!.examples?.vendor?.value;
      assertWire(vendorError('400'), published.badRequest);
      assertWire(vendorError('403'), published.forbidden);
      assertWire(vendorError('500'), published.internal);
      // The vendor's 404 names an unknown user id: the operations that take one show it.
      const takesUserId = 'userId' in e.properties;
      if (takesUserId) assertWire(vendorError('404'), published.notFound);
      else assert.equal(vendorError('404'), undefined, `${e.operation}: its own 404, not an unknown user id`);
    }
  });

  test('every example agrees with the schema it illustrates (Ajv, JSON Schema 2020-12)', () => {
    let checked = 0;
    for (const e of endpoints) {
      const op = operationOf(resolved, e);
      for (const [where, m] of [['request', media(op.requestBody)], ...Object.entries(op.responses).map(([s, r]) => [s, media(r)] as const)] as const) {
        for (const [name, example] of Object.entries(m?.examples ?? {})) {
          assert.deepEqual(schemaErrors(m!.schema, example.value), [], `${e.operation} ${where} ${name}`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 6 * 8, `${checked} examples checked`);
  });

  test("the fixtures' requests and answers agree with the documented schemas, but for the record the vendor cut off", () => {
    for (const e of fixtures.examples) {
      const op = operationOf(resolved, e);
      assert.deepEqual(schemaErrors(media(op.requestBody)!.schema, e.request), [], `${e.name} request`);
      if (e.response === null) continue;
      const problems = schemaErrors(media(op.responses['200'])!.schema, e.response);
      if (e.name === 'lookup') {
        // Why the document's example completes it: the published record lacks five keys.
        assert.deepEqual(
          problems,
          ['assignedBy', 'pinSet', 'tokenStatusChangedAt', 'tokenStatusChangedBy', 'deviceSerialNumber'].map((k) => `/0 must have required property '${k}'`),
        );
      } else {
        assert.deepEqual(problems, [], `${e.name} answer`);
      }
    }
  });

  test('our own examples are what the server answers', async () => {
    const { server } = context;
    const example = (e: Endpoint, status: string, name = 'ours'): unknown => media(operationOf(served, e).responses[status])!.examples![name]!.value;

    // The user lookup: the vendor publishes none; ours is the demo directory's user.
    const userRequest = media(operationOf(served, ENDPOINTS.lookupUser).requestBody)!.examples!.ours!.value;
    const user = await call(server, ENDPOINTS.lookupUser, userRequest);
    assert.equal(user.status, 200, user.text);
    const answered = user.json as Record<string, unknown>;
    assertWire(answered, { ...(example(ENDPOINTS.lookupUser, '200') as object), creationDate: answered.creationDate });

    const unknownUser = await call(server, ENDPOINTS.lookupUser, { email: 'nobody@example.com' });
    assertWire(unknownUser.json, example(ENDPOINTS.lookupUser, '404'));
    const unknownDevice = await call(server, ENDPOINTS.lookupDs100, { deviceSerialNumber: '140100081' });
    assertWire(unknownDevice.json, example(ENDPOINTS.lookupDs100, '404'));

    const tooLarge = await call(server, ENDPOINTS.lookupDs100, { deviceSerialNumber: '1', pad: 'x'.repeat(BODY_LIMIT) });
    assert.equal(tooLarge.status, 413);
    assertWire(tooLarge.json, example(ENDPOINTS.lookupDs100, '413'));
    assertWire(example(ENDPOINTS.lookupDs100, '429'), { code: '429 TOO_MANY_REQUESTS', description: 'Too many requests.' });

    // A role refused: the same body but for the moment it was refused.
    const refused = await call(server, ENDPOINTS.enable, fixture('enable').request, { role: 'ReadOnly' });
    assert.equal(refused.status, 403);
    const role = example(ENDPOINTS.enable, '403', 'role') as Record<string, unknown>;
    assertWire({ ...(refused.json as object), timestamp: role.timestamp }, role);
    assert.equal(role.message, errors.notAuthorized);
    assert.equal(media(operationOf(served, ENDPOINTS.lookupDs100).responses['403'])!.examples!.role, undefined, 'every role may look up');
  });
});
