import type { Actor, AuditEvent, AuditOutcome, AuditTarget } from './types.ts';

/**
 * One audit event: who (`actor`) did what, when, with which outcome. Fields are copied one by
 * one on purpose: `{ ...actor, ... }` took V8's slow copy path here, some 15 µs of a 120 µs
 * lookup in the benchmark's ablation (docs/performance.md).
 */
export function auditEvent(
  actor: Actor,
  at: string,
  operation: string,
  target: AuditTarget,
  outcome: AuditOutcome,
  status: number,
): AuditEvent {
  return {
    subject: actor.subject,
    role: actor.role,
    clientAddress: actor.clientAddress,
    requestId: actor.requestId,
    at,
    operation,
    target,
    outcome,
    status,
  };
}
