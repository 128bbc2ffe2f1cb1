import type { Store, StoreTx } from './store.ts';
import type { Actor, AuditEvent, AuditOutcome, AuditTarget, CallerKind, Role } from './types.ts';

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
    kind: actor.kind,
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
 * The trail keeps the caller's kind in its `subject` and `role` columns, with no column of its own
 * (docs/contract.md, section 7): an OAuth client's subject is written `oauth:<clientId>`; an
 * unauthenticated caller's subject is NULL; an administrator (API key or console) has its role; an
 * operator has a subject and no role (`cli:<user>`, `server`, `emulator-seed`). Client ids, access
 * ids, administrator ids and operator names never begin with `oauth:`, so each row reads back as
 * exactly one kind. (Rows written before the kind was kept read back as they were then read: a
 * subject without a role as an operator.)
 */
export const OAUTH_SUBJECT_PREFIX = 'oauth:';

/** The `subject` column of an event: its subject, written so that the kind can be read back. */
export function subjectColumn(e: Pick<Actor, 'kind' | 'subject'>): string | null {
  if (e.subject === null || e.kind === 'unauthenticated') return null;
  return e.kind === 'oauth_client' ? `${OAUTH_SUBJECT_PREFIX}${e.subject}` : e.subject;
}

/** The caller of a stored event, from its `subject` and `role` columns (`subjectColumn`'s inverse). */
export function callerOf(subject: string | null, role: Role | null): { kind: CallerKind; subject: string | null } {
  if (subject === null) return { kind: 'unauthenticated', subject: null };
  if (subject.startsWith(OAUTH_SUBJECT_PREFIX)) return { kind: 'oauth_client', subject: subject.slice(OAUTH_SUBJECT_PREFIX.length) };
  return { kind: role === null ? 'operator' : 'administrator', subject };
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
