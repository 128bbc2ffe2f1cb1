import type { FastifyInstance } from 'fastify';
import type { AuditOutcome, AuditTarget } from '../../domain/types.ts';
import { auditCommitted, auditEvent } from '../../domain/audit.ts';
import type { Clock } from '../../domain/clock.ts';
import type { Store } from '../../store/store.ts';
import { actorOf, forEndpointRoutes } from '../context.ts';

function outcomeOf(status: number): AuditOutcome {
  if (status < 400) return 'unchanged';
  if (status === 403) return 'denied';
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
 * its transaction (`auditedTransaction`, which marks the call's actor); every other call (reads,
 * refusals, invalid bodies, errors) gets its event here, once the answer is known, without
 * delaying the answer.
 */
export function installAudit(app: FastifyInstance, { store, clock }: { store: Store; clock: Clock }): void {
  forEndpointRoutes(app, 'onResponse', ({ audit: operation }) => (request, reply, done) => {
    const actor = actorOf(request);
    if (!auditCommitted(actor)) {
      store.recordAudit(auditEvent(actor, clock.nowIso(), operation, targetOf(request.body), outcomeOf(reply.statusCode), reply.statusCode));
    }
    done();
  });
}
