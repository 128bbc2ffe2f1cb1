import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RULE_TEXT } from '../../domain/values.ts';
import { ApiError, apiError } from '../../errors.ts';

/** Sends an error from the catalog in its wire shape (spec section 1). */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.spring) {
    return reply.code(error.status).send({
      timestamp: request.server.clock.now(),
      status: error.status,
      error: STATUS_CODES[error.status],
      message: error.description,
      path: request.url.split('?', 1)[0],
    });
  }
  return reply.code(error.status).send({ code: error.code, description: error.description });
}

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  parentSchema?: { type?: unknown; maxLength?: number };
}

/** The rule a property broke, in words, from the schema that states it. */
function ruleOf(e: AjvError): string {
  const s = e.parentSchema ?? {};
  if (e.keyword === 'pattern') return RULE_TEXT.noNul;
  if (s.type === 'boolean') return 'must be true or false';
  if (s.type === 'string') return RULE_TEXT.string(s.maxLength);
  return 'has the wrong type';
}

/**
 * Turns a schema violation into the vendor's 400s: a missing or an extra property is "Wrong
 * number of properties" (checked first, whatever else is wrong); otherwise the first property
 * that breaks its rule is named.
 */
function validationError(request: FastifyRequest, errors: AjvError[]): ApiError {
  const body = request.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return apiError('BODY_NOT_OBJECT');
  const schema = request.routeOptions.schema?.body as { properties?: object; required?: string[] } | undefined;
  const allowed = Object.keys(schema?.properties ?? {});
  const keys = Object.keys(body);
  const missing = (schema?.required ?? []).some((k) => !keys.includes(k));
  if (missing || keys.some((k) => !allowed.includes(k))) return apiError('WRONG_PROPERTY_COUNT');
  const first = errors[0]!;
  return apiError('INVALID_PROPERTY', first.instancePath.slice(1).split('/')[0] ?? '', ruleOf(first));
}

/** Fastify's own 4xx errors, by code, mapped onto the catalog. */
const fastifyErrors: Record<string, Parameters<typeof apiError>[0]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_CONTENT_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BODY_NOT_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BODY_NOT_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BODY_NOT_JSON',
};

/**
 * One error handler for the whole API. Catalog errors go out as they are; Fastify's parser and
 * validation errors are mapped onto the catalog; anything else is a 500 whose detail goes to the
 * log with the request id and never to the client.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof ApiError) return sendError(request, reply, err);
    if (err.validation) return sendError(request, reply, validationError(request, err.validation as AjvError[]));
    const mapped = err.code ? fastifyErrors[err.code] : undefined;
    if (mapped) return sendError(request, reply, apiError(mapped));
    if (err instanceof SyntaxError || (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)) {
      request.log.info({ err: { code: err.code, message: err.message } }, 'request refused by the HTTP layer');
      return sendError(request, reply, apiError(err.statusCode === 413 ? 'BODY_TOO_LARGE' : 'BODY_NOT_JSON'));
    }
    request.log.error({ err }, 'internal error');
    return sendError(request, reply, apiError('INTERNAL'));
  });

  // An `Expect` other than 100-continue: Node answers 417 itself, with no body, unless asked.
  app.server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    const error = apiError('EXPECTATION_FAILED');
    res.writeHead(error.status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'close' });
    res.end(JSON.stringify({ code: error.code, description: error.description }));
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, apiError('ROUTE_NOT_FOUND', request.method, request.url.split('?', 1)[0] ?? '')),
  );
}

/**
 * Fastify's `frameworkErrors`: a URL that does not decode (`/%zz`) is refused before routing,
 * and would otherwise get Fastify's own body, in neither of the wire's two shapes.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('X-Request-Id', request.id);
  reply.header('Cache-Control', 'no-store');
  void sendError(request, reply, apiError(error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'BAD_URL' : 'INTERNAL'));
}

/**
 * The server's `clientError`: a request Node's HTTP parser refuses (not HTTP, headers over
 * 16 KiB, too slow) never reaches Fastify. Like Fastify's default handler, answer once if no
 * response has started on the socket, then close it; unlike it, in the application error shape.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error = apiError(
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'BAD_HTTP_REQUEST',
  );
  this.log.debug({ err: { code: err.code, message: err.message } }, 'request refused by the HTTP parser');
  const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (socket.writable && !started) {
    const body = JSON.stringify({ code: error.code, description: error.description });
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
