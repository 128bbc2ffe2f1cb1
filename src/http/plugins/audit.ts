import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditOutcome, AuditTarget } from '../../domain/types.ts';
import { auditEvent, markAudited } from '../../domain/audit.ts';
import type { Clock } from '../../domain/clock.ts';
import type { Store } from '../../domain/store.ts';
import { apiError } from '../../errors.ts';
import { actorOf, forEndpointRoutes } from '../context.ts';

function outcomeOf(status: number): AuditOutcome {
  if (status < 400) return 'unchanged';
  if (status === 401 || status === 403) return 'denied';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'error';
  return 'invalid';
}

const TARGET_FIELDS = ['userId', 'deviceSerialNumber', 'tokenSerialNumber', 'email'] as const;

/** What a call was about, from its body: the identifying fields that are strings, cut to a sane length. */
export function targetOf(body: unknown): AuditTarget {
  const target: AuditTarget = {};
  if (typeof body !== 'object' || body === null) return target;
  for (const f of TARGET_FIELDS) {
    const v = (body as Record<string, unknown>)[f];
    if (typeof v === 'string') target[f] = v.slice(0, 254);
  }
  return target;
}

/**
 * Contract 7: one audit event per call to an API operation. A change records its own event inside
 * its transaction (`auditedTransaction`); every other call (reads, refusals, invalid bodies,
 * errors) gets its event here, once the answer is known, without delaying the answer. Both go
 * through `markAudited` (domain/audit.ts), the one record of which calls have their event.
 *
 * Fastify runs `onResponse` only once the answer is written out. A client that hangs up first
 * closes the response without it, so the response's 'close' is watched from the first hook of
 * the route on: the event is written then if the answer was already decided, else by `onSend`
 * once it is. (`onRequestAbort` would not do: it skips a client that sent its whole request
 * before leaving, and it runs while the handler may still commit a change with its own event.)
 * `markAudited` makes sure that whichever comes last writes nothing.
 *
 * Install it before the guard, whose token check may outlast the connection.
 */
export function installAudit(app: FastifyInstance, { store, clock }: { store: Store; clock: Clock }): void {
  const record = (operation: string, request: FastifyRequest, reply: FastifyReply): void => {
    const actor = actorOf(request);
    if (!markAudited(actor)) return;
    store.recordAudit(auditEvent(actor, clock.nowIso(), operation, targetOf(request.body), outcomeOf(reply.statusCode), reply.statusCode));
  };
  app.decorateRequest('hungUp', false);
  forEndpointRoutes(app, 'onRequest', ({ audit: operation }) => (request, reply, done) => {
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished) return;
      if (reply.raw.writableEnded) record(operation, request, reply);
      else request.hungUp = true;
    });
    done();
  });
  // Node discards the unread body of a request whose client has gone, and Fastify would wait
  // for it forever, answering nothing: refuse it as a body cut off while being read is refused.
  forEndpointRoutes(app, 'preParsing', () => (request, _reply, payload, done) => {
    if (request.raw.destroyed) done(apiError('BODY_NOT_JSON'));
    else done(null, payload);
  });
  forEndpointRoutes(app, 'onSend', ({ audit: operation }) => (request, reply, payload, done) => {
    if (request.hungUp) record(operation, request, reply);
    done(null, payload);
  });
  forEndpointRoutes(app, 'onResponse', ({ audit: operation }) => (request, reply, done) => {
    record(operation, request, reply);
    done();
  });
}
