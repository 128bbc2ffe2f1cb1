/** The records ds100-admin keeps, with the wire's field names (spec sections 4 and 5). */

export const ROLES = ['SuperAdmin', 'HelpDeskAdmin', 'ReadOnly'] as const;
export type Role = (typeof ROLES)[number];

export const TOKEN_STATUSES = ['Enabled', 'Disabled'] as const;
export type TokenStatus = (typeof TOKEN_STATUSES)[number];

export const DEVICE_TYPE = 'SecurID DS100';

/** A user of the directory. Absent values are `null`, never missing. */
export interface User {
  id: string;
  emailAddress: string | null;
  firstName: string | null;
  lastName: string | null;
  creationDate: string;
  identitySource: string | null;
  userStatus: 'Enabled' | 'Disabled';
  markDeleted: boolean;
  markDeletedAt: string | null;
  markDeletedBy: string | null;
  lastSyncTime: string | null;
}

/** One OTP credential of a DS100, in the documented field order (spec 4.5). */
export interface Credential {
  id: string;
  name: string | null;
  userId: string;
  deviceType: string;
  registeredDate: string;
  tokenSerialNumber: string;
  updatedAt: string;
  tokenState: string;
  expiryDate: string | null;
  tokenStatus: TokenStatus;
  tokenStatusReason: string | null;
  assignedAt: string | null;
  assignedBy: string | null;
  pinSet: boolean;
  tokenStatusChangedAt: string | null;
  tokenStatusChangedBy: string | null;
  deviceSerialNumber: string;
}

/** The public half of an Administration API key. The private half is never stored. */
export interface ApiKey {
  accessId: string;
  role: Role;
  description: string | null;
  publicKeyPem: string;
  createdAt: string;
}

export const AUDIT_OUTCOMES = ['changed', 'unchanged', 'not_found', 'invalid', 'denied', 'rate_limited', 'error'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** Who made a call and from where: the part of an audit event the HTTP layer knows. */
export interface Actor {
  subject: string | null;
  role: Role | null;
  clientAddress: string | null;
  requestId: string | null;
}

export interface AuditTarget {
  userId?: string;
  deviceSerialNumber?: string;
  tokenSerialNumber?: string;
  email?: string;
  accessId?: string;
}

export interface AuditEvent extends Actor {
  at: string;
  operation: string;
  target: AuditTarget;
  outcome: AuditOutcome;
  status: number;
}

/** An audit event as read back, with its position in the trail. */
export interface StoredAuditEvent extends AuditEvent {
  seq: number;
}
