import type { ApiKey, AuditEvent, Credential, Role, StoredAuditEvent, TokenStatus, User } from '../domain/types.ts';

/**
 * Column lists and row mappers that both SQL engines share: the tables have the same columns
 * on SQLite and PostgreSQL, so a row reads back the same way from either.
 */
type Row = Record<string, unknown>;

export const USER_COLUMNS =
  'id, email, first_name, last_name, creation_date, identity_source, user_status, mark_deleted, mark_deleted_at, mark_deleted_by, last_sync_time';
export const CREDENTIAL_COLUMNS =
  'id, name, user_id, device_type, registered_date, token_serial, updated_at, token_state, expiry_date, token_status, token_status_reason, assigned_at, assigned_by, pin_set, token_status_changed_at, token_status_changed_by, device_serial';
export const API_KEY_COLUMNS = 'access_id, role, description, public_key_pem, created_at';
export const AUDIT_COLUMNS = 'seq, at, subject, role, client_address, request_id, operation, target, outcome, status';

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function toUser(r: Row): User {
  return {
    id: String(r.id),
    emailAddress: str(r.email),
    firstName: str(r.first_name),
    lastName: str(r.last_name),
    creationDate: String(r.creation_date),
    identitySource: str(r.identity_source),
    userStatus: r.user_status === 'Disabled' ? 'Disabled' : 'Enabled',
    markDeleted: Boolean(r.mark_deleted),
    markDeletedAt: str(r.mark_deleted_at),
    markDeletedBy: str(r.mark_deleted_by),
    lastSyncTime: str(r.last_sync_time),
  };
}

export function userValues(u: User): unknown[] {
  return [
    u.id, u.emailAddress, u.emailAddress?.toLowerCase() ?? null, u.firstName, u.lastName, u.creationDate,
    u.identitySource, u.userStatus, u.markDeleted, u.markDeletedAt, u.markDeletedBy, u.lastSyncTime,
  ];
}

export function toCredential(r: Row): Credential {
  return {
    id: String(r.id),
    name: str(r.name),
    userId: String(r.user_id),
    deviceType: String(r.device_type),
    registeredDate: String(r.registered_date),
    tokenSerialNumber: String(r.token_serial),
    updatedAt: String(r.updated_at),
    tokenState: String(r.token_state),
    expiryDate: str(r.expiry_date),
    tokenStatus: r.token_status as TokenStatus,
    tokenStatusReason: str(r.token_status_reason),
    assignedAt: str(r.assigned_at),
    assignedBy: str(r.assigned_by),
    pinSet: Boolean(r.pin_set),
    tokenStatusChangedAt: str(r.token_status_changed_at),
    tokenStatusChangedBy: str(r.token_status_changed_by),
    deviceSerialNumber: String(r.device_serial),
  };
}

export function credentialValues(c: Credential): unknown[] {
  return [
    c.id, c.name, c.userId, c.deviceType, c.registeredDate, c.tokenSerialNumber, c.updatedAt, c.tokenState,
    c.expiryDate, c.tokenStatus, c.tokenStatusReason, c.assignedAt, c.assignedBy, c.pinSet,
    c.tokenStatusChangedAt, c.tokenStatusChangedBy, c.deviceSerialNumber,
  ];
}

export function toApiKey(r: Row): ApiKey {
  return {
    accessId: String(r.access_id),
    role: r.role as Role,
    description: str(r.description),
    publicKeyPem: String(r.public_key_pem),
    createdAt: String(r.created_at),
  };
}

export function apiKeyValues(k: ApiKey): unknown[] {
  return [k.accessId, k.role, k.description, k.publicKeyPem, k.createdAt];
}

export function toAuditEvent(r: Row): StoredAuditEvent {
  return {
    seq: Number(r.seq),
    at: String(r.at),
    subject: str(r.subject),
    role: str(r.role) as Role | null,
    clientAddress: str(r.client_address),
    requestId: str(r.request_id),
    operation: String(r.operation),
    target: JSON.parse(String(r.target)) as AuditEvent['target'],
    outcome: r.outcome as AuditEvent['outcome'],
    status: Number(r.status),
  };
}

export function auditValues(e: AuditEvent): unknown[] {
  return [e.at, e.subject, e.role, e.clientAddress, e.requestId, e.operation, JSON.stringify(e.target), e.outcome, e.status];
}
