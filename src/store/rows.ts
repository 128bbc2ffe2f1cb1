import type {
  Admin, AdminInvite, ApiKey, AuditEvent, ConsoleSession, Credential, OAuthAlg, OAuthClient, Passkey, Role, Scope, SigningKey, StoredAuditEvent,
  TokenStatus, User,
} from '../domain/types.ts';
import { callerOf, subjectColumn } from '../domain/audit.ts';

/**
 * Column lists and row mappers that both SQL engines share: the tables have the same columns
 * on SQLite and PostgreSQL, so a row reads back the same way from either. Rows are read as
 * arrays of cells in the order of the column list (better-sqlite3 `.raw()`, pg `rowMode:
 * 'array'`): building a keyed object per row only to copy it into another cost more than the
 * query itself.
 */
export type Cells = unknown[];

export const USER_COLUMNS =
  'id, email, first_name, last_name, creation_date, identity_source, user_status, mark_deleted, mark_deleted_at, mark_deleted_by, last_sync_time';
export const CREDENTIAL_COLUMNS =
  'id, name, user_id, device_type, registered_date, token_serial, updated_at, token_state, expiry_date, token_status, token_status_reason, assigned_at, assigned_by, pin_set, token_status_changed_at, token_status_changed_by, device_serial';
export const API_KEY_COLUMNS = 'access_id, role, description, public_key_pem, created_at';
export const OAUTH_CLIENT_COLUMNS = 'client_id, description, scopes, alg, kid, public_key_pem, created_at';
export const SIGNING_KEY_COLUMNS = 'kid, private_key_pem, public_key_pem, created_at, retired_at, not_after';
export const ADMIN_COLUMNS = 'id, email, role, created_at, created_by, enrolled_at, revoked_at';
export const ADMIN_INVITE_COLUMNS = 'token_hash, admin_id, created_at, expires_at, used_at';
export const PASSKEY_COLUMNS = 'credential_id, admin_id, public_key, counter, transports, created_at, last_used_at';
export const CONSOLE_SESSION_COLUMNS = 'id_hash, admin_id, created_at, last_seen_at';
export const AUDIT_COLUMNS = 'seq, at, subject, role, client_address, request_id, operation, target, outcome, status, logged_at';

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function toUser(r: Cells): User {
  return {
    id: String(r[0]),
    emailAddress: str(r[1]),
    firstName: str(r[2]),
    lastName: str(r[3]),
    creationDate: String(r[4]),
    identitySource: str(r[5]),
    userStatus: r[6] === 'Disabled' ? 'Disabled' : 'Enabled',
    markDeleted: Boolean(r[7]),
    markDeletedAt: str(r[8]),
    markDeletedBy: str(r[9]),
    lastSyncTime: str(r[10]),
  };
}

export function userValues(u: User): unknown[] {
  return [
    u.id, u.emailAddress, u.emailAddress?.toLowerCase() ?? null, u.firstName, u.lastName, u.creationDate,
    u.identitySource, u.userStatus, u.markDeleted, u.markDeletedAt, u.markDeletedBy, u.lastSyncTime,
  ];
}

export function toCredential(r: Cells): Credential {
  return {
    id: String(r[0]),
    name: str(r[1]),
    userId: String(r[2]),
    deviceType: String(r[3]),
    registeredDate: String(r[4]),
    tokenSerialNumber: String(r[5]),
    updatedAt: String(r[6]),
    tokenState: String(r[7]),
    expiryDate: str(r[8]),
    tokenStatus: r[9] as TokenStatus,
    tokenStatusReason: str(r[10]),
    assignedAt: str(r[11]),
    assignedBy: str(r[12]),
    pinSet: Boolean(r[13]),
    tokenStatusChangedAt: str(r[14]),
    tokenStatusChangedBy: str(r[15]),
    deviceSerialNumber: String(r[16]),
  };
}

export function credentialValues(c: Credential): unknown[] {
  return [
    c.id, c.name, c.userId, c.deviceType, c.registeredDate, c.tokenSerialNumber, c.updatedAt, c.tokenState,
    c.expiryDate, c.tokenStatus, c.tokenStatusReason, c.assignedAt, c.assignedBy, c.pinSet,
    c.tokenStatusChangedAt, c.tokenStatusChangedBy, c.deviceSerialNumber,
  ];
}

export function toApiKey(r: Cells): ApiKey {
  return {
    accessId: String(r[0]),
    role: r[1] as Role,
    description: str(r[2]),
    publicKeyPem: String(r[3]),
    createdAt: String(r[4]),
  };
}

export function apiKeyValues(k: ApiKey): unknown[] {
  return [k.accessId, k.role, k.description, k.publicKeyPem, k.createdAt];
}

/** Scopes are kept as one space-separated text, as OAuth writes them. */
export function toOAuthClient(r: Cells): OAuthClient {
  return {
    clientId: String(r[0]),
    description: str(r[1]),
    scopes: String(r[2]).split(' ').filter(Boolean) as Scope[],
    alg: r[3] as OAuthAlg,
    kid: String(r[4]),
    publicKeyPem: String(r[5]),
    createdAt: String(r[6]),
  };
}

export function oauthClientValues(c: OAuthClient): unknown[] {
  return [c.clientId, c.description, c.scopes.join(' '), c.alg, c.kid, c.publicKeyPem, c.createdAt];
}

export function toSigningKey(r: Cells): SigningKey {
  return {
    kid: String(r[0]),
    privateKeyPem: String(r[1]),
    publicKeyPem: String(r[2]),
    createdAt: String(r[3]),
    retiredAt: str(r[4]),
    notAfter: str(r[5]),
  };
}

export function signingKeyValues(k: SigningKey): unknown[] {
  return [k.kid, k.privateKeyPem, k.publicKeyPem, k.createdAt, k.retiredAt, k.notAfter];
}

export function toAuditEvent(r: Cells): StoredAuditEvent {
  const role = str(r[3]) as Role | null;
  const { kind, subject } = callerOf(str(r[2]), role);
  return {
    seq: Number(r[0]),
    at: String(r[1]),
    kind,
    subject,
    role,
    clientAddress: str(r[4]),
    requestId: str(r[5]),
    operation: String(r[6]),
    target: JSON.parse(String(r[7])) as AuditEvent['target'],
    outcome: r[8] as AuditEvent['outcome'],
    status: Number(r[9]),
    loggedAt: String(r[10]),
  };
}

/** An event's values for its INSERT, appended to `values` rather than made an array: a commit writes one per event. */
export function pushAuditValues(values: unknown[], e: AuditEvent): void {
  values.push(e.at, subjectColumn(e), e.role, e.clientAddress, e.requestId, e.operation, JSON.stringify(e.target), e.outcome, e.status);
}

export function toAdmin(r: Cells): Admin {
  return {
    id: String(r[0]),
    email: String(r[1]),
    role: r[2] as Role,
    createdAt: String(r[3]),
    createdBy: str(r[4]),
    enrolledAt: str(r[5]),
    revokedAt: str(r[6]),
  };
}

export function adminValues(a: Admin): unknown[] {
  return [a.id, a.email, a.email.toLowerCase(), a.role, a.createdAt, a.createdBy, a.enrolledAt, a.revokedAt];
}

export function toAdminInvite(r: Cells): AdminInvite {
  return { tokenHash: String(r[0]), adminId: String(r[1]), createdAt: String(r[2]), expiresAt: String(r[3]), usedAt: str(r[4]) };
}

export function adminInviteValues(i: AdminInvite): unknown[] {
  return [i.tokenHash, i.adminId, i.createdAt, i.expiresAt, i.usedAt];
}

export function toPasskey(r: Cells): Passkey {
  return {
    id: String(r[0]),
    adminId: String(r[1]),
    publicKey: String(r[2]),
    counter: Number(r[3]),
    transports: JSON.parse(String(r[4])) as string[],
    createdAt: String(r[5]),
    lastUsedAt: str(r[6]),
  };
}

export function passkeyValues(p: Passkey): unknown[] {
  return [p.id, p.adminId, p.publicKey, p.counter, JSON.stringify(p.transports), p.createdAt, p.lastUsedAt];
}

export function toConsoleSession(r: Cells): ConsoleSession {
  return { idHash: String(r[0]), adminId: String(r[1]), createdAt: String(r[2]), lastSeenAt: String(r[3]) };
}

export function consoleSessionValues(s: ConsoleSession): unknown[] {
  return [s.idHash, s.adminId, s.createdAt, s.lastSeenAt];
}
