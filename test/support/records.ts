/**
 * Plain records for store-level tests: a user, a credential and an audit event with every field
 * set, each overridable.
 */
import type { AuditEvent, Credential, User } from '../../src/domain/types.ts';

export function user(id: string, email = `${id}@example.com`): User {
  return {
    id,
    emailAddress: email,
    firstName: null,
    lastName: null,
    creationDate: '2026-01-01T00:00:00.000Z',
    identitySource: 'Internal Database',
    userStatus: 'Enabled',
    markDeleted: false,
    markDeletedAt: null,
    markDeletedBy: null,
    lastSyncTime: null,
  };
}

export function credential(id: string, userId: string, device: string, token: string, over: Partial<Credential> = {}): Credential {
  return {
    id,
    name: null,
    userId,
    deviceType: 'SecurID DS100',
    registeredDate: '2026-01-01T00:00:00.000Z',
    tokenSerialNumber: token,
    updatedAt: '2026-01-01T00:00:00.000Z',
    tokenState: 'Activated',
    expiryDate: null,
    tokenStatus: 'Enabled',
    tokenStatusReason: null,
    assignedAt: '2026-01-01T00:00:00.000Z',
    assignedBy: null,
    pinSet: false,
    tokenStatusChangedAt: null,
    tokenStatusChangedBy: null,
    deviceSerialNumber: device,
    ...over,
  };
}

export function auditEvent(operation: string, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    at: '2026-01-01T00:00:00.000Z',
    kind: 'administrator', subject: 'sub-1',
    role: 'HelpDeskAdmin',
    clientAddress: '127.0.0.1',
    requestId: 'req-1',
    operation,
    target: { userId: 'u-1', deviceSerialNumber: '140100080' },
    outcome: 'unchanged',
    status: 200,
    ...over,
  };
}
