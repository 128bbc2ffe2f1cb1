import type { Store, StoreTx } from './store.ts';
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

/**
 * Marks the calls (by their actor, one object per call) whose audit event is written or on its
 * way: a property only this module names, cheaper on every call than a WeakSet.
 */
const AUDITED = Symbol('audited');
type Marked = Actor & { [AUDITED]?: true };

/**
 * Marks `actor`'s call as audited; false if it already was. The one record of it: a call's event
 * is written by its change's transaction (`auditedTransaction`) or, for every other call, by the
 * HTTP layer, and each asks here first, so that no call is audited twice nor left out.
 */
export function markAudited(actor: Actor): boolean {
  if ((actor as Marked)[AUDITED]) return false;
  (actor as Marked)[AUDITED] = true;
  return true;
}

/**
 * Runs `work` in one transaction of `store`, in which it appends the call's audit event itself,
 * and marks the call audited once that commit is durable, whether `work` decided a success or a
 * refusal.
 */
export async function auditedTransaction<T>(store: Store, actor: Actor, work: (tx: StoreTx) => Promise<T>): Promise<T> {
  const result = await store.transaction(work);
  markAudited(actor);
  return result;
}
