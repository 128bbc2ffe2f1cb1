import type { StatusItemResponse } from '../contract/schemas.ts';
import { apiError, type ApiError } from '../errors.ts';
import type { Store, StoreTx } from './store.ts';
import type { Clock } from './clock.ts';
import { auditEvent, auditedTransaction } from './audit.ts';
import type { Actor, AuditOutcome, AuditTarget, Credential, TokenStatus } from './types.ts';

/** One item of the enable/disable answer, keys in the documented order (contract 4.1). */
export type StatusItem = StatusItemResponse;

/** The status item of a credential, or of any record that carries its fields (a lookup's item). */
export const toStatusItem = (c: Pick<Credential, keyof StatusItem>): StatusItem => ({
  userId: c.userId,
  tokenSerialNumber: c.tokenSerialNumber,
  tokenStatus: c.tokenStatus,
  tokenStatusChangedAt: c.tokenStatusChangedAt,
  tokenStatusChangedBy: c.tokenStatusChangedBy,
  deviceSerialNumber: c.deviceSerialNumber,
});

/** What a transaction decided: a value to answer with, or a 404 to raise once its audit event is committed. */
type Refusal = { error: ApiError; outcome: AuditOutcome };
type Decision<T> = { value: T; outcome: AuditOutcome } | Refusal;

/** A 404 that names the user when the user is missing, else what `otherwise` says is missing. */
async function notFound(tx: StoreTx, userId: string, otherwise: () => ApiError): Promise<Refusal> {
  const user = await tx.userById(userId);
  return { error: user ? otherwise() : apiError('USER_NOT_FOUND', userId), outcome: 'not_found' };
}

export interface CredentialServiceDeps {
  store: Store;
  clock: Clock;
}

/**
 * The OTP credential lifecycle of spec section 4. Each change runs in one store transaction that
 * also appends its audit event, whatever the outcome (changed, unchanged or not found): the
 * event and the change commit together or not at all.
 */
export function makeCredentialService({ store, clock }: CredentialServiceDeps) {
  /**
   * Runs `decide` in a transaction and records its audit event there. A 404 decision is thrown
   * only after the commit, so that its event is kept.
   */
  async function mutate<T>(
    actor: Actor,
    operation: string,
    target: AuditTarget & { userId: string },
    decide: (tx: StoreTx, now: string) => Promise<Decision<T>>,
  ): Promise<T> {
    const decision = await auditedTransaction(store, actor, async (tx) => {
      // Every change to a user's credentials takes the user's lock first: instances take turns.
      await tx.lockUser(target.userId);
      const now = clock.nowIso();
      const d = await decide(tx, now);
      const status = 'error' in d ? d.error.status : 200;
      await tx.appendAudit(auditEvent(actor, now, operation, target, d.outcome, status));
      return d;
    });
    if ('error' in decision) throw decision.error;
    return decision.value;
  }

  async function setStatus(
    actor: Actor & { subject: string },
    input: { userId: string; deviceSerialNumber: string },
    tokenStatus: TokenStatus,
  ): Promise<StatusItem[]> {
    const operation = tokenStatus === 'Enabled' ? 'ds100.enable' : 'ds100.disable';
    return mutate(actor, operation, { userId: input.userId, deviceSerialNumber: input.deviceSerialNumber }, async (tx, now) => {
      const credentials = await tx.credentialsOfUserDevice(input.userId, input.deviceSerialNumber);
      if (credentials.length === 0) {
        return notFound(tx, input.userId, () => apiError('DEVICE_NOT_REGISTERED', input.deviceSerialNumber, input.userId));
      }
      let changed = false;
      for (const c of credentials) {
        if (c.tokenStatus === tokenStatus) continue;
        await tx.setCredentialStatus(c.id, { tokenStatus, changedAt: now, changedBy: actor.subject });
        Object.assign(c, { tokenStatus, tokenStatusChangedAt: now, tokenStatusChangedBy: actor.subject, updatedAt: now });
        changed = true;
      }
      return { value: credentials.map(toStatusItem), outcome: changed ? 'changed' : 'unchanged' };
    });
  }

  return {
    /** Spec 4.1: every OTP credential of the user's DS100 becomes Enabled. */
    enable: (actor: Actor & { subject: string }, input: { userId: string; deviceSerialNumber: string }) =>
      setStatus(actor, input, 'Enabled'),

    /** Spec 4.2: every OTP credential of the user's DS100 becomes Disabled. */
    disable: (actor: Actor & { subject: string }, input: { userId: string; deviceSerialNumber: string }) =>
      setStatus(actor, input, 'Disabled'),

    /** Spec 4.3: removes the credential that all three identifiers describe. */
    delete: (actor: Actor, input: { tokenSerialNumber: string; deviceSerialNumber: string; userId: string }) =>
      mutate(actor, 'ds100.delete', { tokenSerialNumber: input.tokenSerialNumber, deviceSerialNumber: input.deviceSerialNumber, userId: input.userId }, async (tx) => {
        const c = await tx.credentialByTokenSerial(input.tokenSerialNumber);
        if (!c || c.userId !== input.userId || c.deviceSerialNumber !== input.deviceSerialNumber) {
          return notFound(tx, input.userId, () => apiError('CREDENTIAL_NOT_FOUND', input.tokenSerialNumber, input.userId));
        }
        await tx.deleteCredential(c.id);
        return { value: undefined, outcome: 'changed' };
      }),

    /** Spec 4.4: clears the PIN of the user's credential. */
    clearPin: (actor: Actor, input: { tokenSerialNumber: string; userId: string }) =>
      mutate(actor, 'ds100.clearPin', { tokenSerialNumber: input.tokenSerialNumber, userId: input.userId }, async (tx, now) => {
        const c = await tx.credentialByTokenSerial(input.tokenSerialNumber);
        if (!c || c.userId !== input.userId) {
          return notFound(tx, input.userId, () => apiError('CREDENTIAL_NOT_FOUND', input.tokenSerialNumber, input.userId));
        }
        if (c.pinSet) await tx.clearCredentialPin(c.id, now);
        return {
          value: { tokenSerialNumber: c.tokenSerialNumber, pinSet: false as const },
          outcome: c.pinSet ? 'changed' : 'unchanged',
        };
      }),

    /** Spec 4.5: every OTP credential of a device, whoever holds it. */
    async lookup(deviceSerialNumber: string): Promise<Credential[]> {
      const found = await store.credentialsByDevice(deviceSerialNumber);
      if (found.length === 0) throw apiError('DEVICE_HAS_NO_OTP', deviceSerialNumber);
      return found;
    },
  };
}

export type CredentialService = ReturnType<typeof makeCredentialService>;
