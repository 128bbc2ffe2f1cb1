/**
 * The contract as the tests know it, restated from docs/contract.md (endpoints, their properties,
 * the wire's key orders and fixed messages), the vendor fixtures, and assertions on the wire.
 *
 * The expected values here are written from the contract, not imported from src/: a test that
 * takes its expectation from the code under test cannot catch that code drifting from the contract.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROLES, type Role } from '../../src/domain/types.ts';
import type { Reply } from '../support/server.ts';

// ---------------------------------------------------------------------------------------------
// The contract, restated from docs/contract.md

export const repoRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface FixtureExample {
  name: string;
  method: string;
  path: string;
  request: Record<string, string>;
  status: number;
  response: unknown;
  seed: {
    users: Array<{ id: string }>;
    ds100: Array<{ userId: string; deviceSerialNumber: string; tokenSerialNumber: string; tokenStatus: string } & Record<string, unknown>>;
  };
  notes: string;
}

export interface Fixtures {
  basePath: string;
  examples: FixtureExample[];
  errorBodies: Record<'notFound' | 'badRequest' | 'internal' | 'forbidden', Record<string, unknown>>;
}

/** The vendor's published examples: the project's copy, kept as the vendor wrote them (test/fixtures/README.md). */
export const fixtures = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/doc-examples.json'), 'utf8')) as Fixtures;

type Property = { type: 'string'; maxLength: number; optional?: false } | { type: 'boolean'; optional: true };

export interface Endpoint {
  /** OpenAPI operationId, and the SDK's method name. */
  operationId: string;
  method: 'PATCH' | 'DELETE' | 'POST';
  /** Below `/AdminInterface/restapi`. */
  path: string;
  /** The audit trail's name for the call (spec 7). */
  operation: string;
  /** The roles that may call it (spec 3). */
  roles: readonly Role[];
  /** The body's properties, in the documented order. */
  properties: Record<string, Property>;
}

/** Spec 1: every property of the DS100 bodies is a non-empty string of at most 36 characters. */
const identifier: Property = { type: 'string', maxLength: 36 };
const WRITERS: readonly Role[] = ['SuperAdmin', 'HelpDeskAdmin'];

export const ENDPOINTS = {
  enable: {
    operationId: 'enableOtp', method: 'PATCH', path: '/v1/ds100/enable/otp', operation: 'ds100.enable', roles: WRITERS,
    properties: { deviceSerialNumber: identifier, userId: identifier },
  },
  disable: {
    operationId: 'disableOtp', method: 'PATCH', path: '/v1/ds100/disable/otp', operation: 'ds100.disable', roles: WRITERS,
    properties: { deviceSerialNumber: identifier, userId: identifier },
  },
  delete: {
    operationId: 'deleteOtp', method: 'DELETE', path: '/v1/ds100/delete/otp', operation: 'ds100.delete', roles: WRITERS,
    properties: { tokenSerialNumber: identifier, deviceSerialNumber: identifier, userId: identifier },
  },
  clearPin: {
    operationId: 'clearPin', method: 'PATCH', path: '/v1/ds100/clearPin/otp', operation: 'ds100.clearPin', roles: WRITERS,
    properties: { tokenSerialNumber: identifier, userId: identifier },
  },
  lookupDs100: {
    operationId: 'lookupDs100', method: 'POST', path: '/v1/ds100/lookup', operation: 'ds100.lookup', roles: ROLES,
    properties: { deviceSerialNumber: identifier },
  },
  // Spec 5. The 36-character rule is the DS100 bodies'; an e-mail address may be as long as
  // SMTP allows (254), which is the server's choice where the spec is silent.
  lookupUser: {
    operationId: 'lookupUser', method: 'POST', path: '/v1/users/lookup', operation: 'users.lookup', roles: ROLES,
    properties: { email: { type: 'string', maxLength: 254 }, searchUnsynched: { type: 'boolean', optional: true } },
  },
} as const satisfies Record<string, Endpoint>;

/** Spec 4.1: the keys of an enable/disable status item, in order. */
export const STATUS_ITEM_KEYS = [
  'userId', 'tokenSerialNumber', 'tokenStatus', 'tokenStatusChangedAt', 'tokenStatusChangedBy', 'deviceSerialNumber',
];
/** Spec 4.5: the documented order, then the fields the vendor's table leaves out. */
export const CREDENTIAL_KEYS = [
  'id', 'name', 'userId', 'deviceType', 'registeredDate', 'tokenSerialNumber', 'updatedAt', 'tokenState',
  'expiryDate', 'tokenStatus', 'tokenStatusReason', 'assignedAt', 'assignedBy',
  'pinSet', 'tokenStatusChangedAt', 'tokenStatusChangedBy', 'deviceSerialNumber',
];
/** Spec 5. */
export const USER_KEYS = [
  'id', 'emailAddress', 'firstName', 'lastName', 'creationDate', 'identitySource', 'userStatus', 'markDeleted',
  'markDeletedAt', 'markDeletedBy', 'lastSyncTime',
];
export const FORBIDDEN_KEYS = ['timestamp', 'status', 'error', 'message', 'path'];

/** The error bodies' texts: the spec's where it gives them, the server's catalog otherwise. */
export const errors = {
  wrongCount: { code: '400 BAD_REQUEST', description: 'Wrong number of properties in the request body.' },
  invalid: (name: string, rule: string) => ({ code: '400 BAD_REQUEST', description: `Invalid value for property '${name}': ${rule}.` }),
  notObject: { code: '400 BAD_REQUEST', description: 'The request body must be a JSON object.' },
  notJson: { code: '400 BAD_REQUEST', description: 'The request body is not valid JSON.' },
  contentType: { code: '400 BAD_REQUEST', description: 'The request body must be sent as application/json.' },
  tooLarge: { code: '413 PAYLOAD_TOO_LARGE', description: 'The request body is larger than 16384 bytes.' },
  userNotFound: (user: string) => ({ code: '404 NOT_FOUND', description: `User ${user} not found` }),
  deviceNotRegistered: (device: string, userId: string) => ({
    code: '404 NOT_FOUND', description: `DS100 ${device} is not registered to user ${userId}`,
  }),
  credentialNotFound: (token: string, userId: string) => ({
    code: '404 NOT_FOUND', description: `OTP credential ${token} not found for user ${userId}`,
  }),
  deviceHasNoOtp: (device: string) => ({ code: '404 NOT_FOUND', description: `No OTP credential found for DS100 ${device}` }),
  internal: { code: '500 INTERNAL_SERVER_ERROR', description: 'An internal error occurred.' },
  notAuthorized: 'Not authorized to perform the request.',
  tokenRefused: 'Server failed to process provided access token',
  // The three reasons a refused token is told, because the vendor's clients read them (spec 1).
  tokenExpired: 'Expired Access Token is not allowed',
  invalidAudience: 'Invalid audience',
  invalidAccessId: 'Invalid Access Id',
};

/** Spec 1: request bodies over 16 KiB are refused. */
export const BODY_LIMIT = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// Assertions on the wire

/** ISO 8601 UTC with milliseconds and `Z`, e.g. 2022-05-24T07:30:55.856Z. */
export function assertTimestamp(value: unknown, what = 'timestamp'): asserts value is string {
  assert.equal(typeof value, 'string', `${what} is a string`);
  assert.match(value as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, `${what} has the wire form`);
  assert.equal(new Date(value as string).toISOString(), value, `${what} is a real instant`);
}

/** A timestamp the server made for this request: between the moments it was sent and answered. */
export function assertFresh(value: unknown, sentAt: number, answeredAt: number, what = 'timestamp'): void {
  assertTimestamp(value, what);
  const t = Date.parse(value);
  assert.ok(t >= sentAt && t <= answeredAt, `${what} ${value} was made while the request ran`);
}

/** Equal values and, at every depth, keys in the same order (the wire's order matters). */
export function assertWire(actual: unknown, expected: unknown): void {
  assert.deepEqual(actual, expected);
  assert.equal(JSON.stringify(actual), JSON.stringify(expected), 'same keys in the same order');
}

/** The Spring-style 403 body (spec 1). */
export function assertForbidden(reply: Reply, message: string, path: string, sentAt: number, answeredAt: number): void {
  assert.equal(reply.status, 403, reply.text);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
  const body = reply.json as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), FORBIDDEN_KEYS);
  assert.deepEqual({ ...body, timestamp: 0 }, { timestamp: 0, status: 403, error: 'Forbidden', message, path });
  assert.ok(Number.isInteger(body.timestamp), 'timestamp is epoch milliseconds');
  assert.ok((body.timestamp as number) >= sentAt && (body.timestamp as number) <= answeredAt, 'timestamp is the time of the refusal');
}
