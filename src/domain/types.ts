/** The records ds100-admin keeps, with the wire's field names (docs/contract.md, sections 4 and 5). */

import type { Static } from '@sinclair/typebox';
import type { CredentialRecord, Role, Scope, UserRecord } from '../contract/schemas.ts';

export { ROLES, SCOPES, TOKEN_STATUSES, type Role, type Scope, type TokenStatus } from '../contract/schemas.ts';

export const DEVICE_TYPE = 'SecurID DS100';

/** The tenant's name in key files and the event log, unless the operator names it. */
export const DEFAULT_CUSTOMER_NAME = 'ds100-admin';

/** A user of the directory: the wire's user record (contract 5). Absent values are `null`, never missing. */
export type User = Static<typeof UserRecord>;

/** One OTP credential of a DS100: the wire's record, in the documented field order (contract 4.5). */
export type Credential = Static<typeof CredentialRecord>;

/** The public half of an Administration API key. The private half is never stored. */
export interface ApiKey {
  accessId: string;
  role: Role;
  description: string | null;
  publicKeyPem: string;
  createdAt: string;
}

/** An OAuth client (contract 10): the public half of its key and the scopes it may be granted. */
export interface OAuthClient {
  clientId: string;
  description: string | null;
  scopes: Scope[];
  /** `RS256` or `ES256`: the one algorithm its assertions are signed with. */
  alg: OAuthAlg;
  /** The key id its assertions may name in their header. */
  kid: string;
  publicKeyPem: string;
  createdAt: string;
}

export const OAUTH_ALGS = ['RS256', 'ES256'] as const;
export type OAuthAlg = (typeof OAUTH_ALGS)[number];

/**
 * A key the server signs its access tokens with (ES256). The private half is a secret kept in the
 * store so that every instance signs and verifies alike (SECURITY.md says who can read it).
 */
export interface SigningKey {
  kid: string;
  privateKeyPem: string;
  publicKeyPem: string;
  createdAt: string;
  /** When a newer key replaced it for signing; null while it is the current one. */
  retiredAt: string | null;
  /** After this, no token it signed can still be valid: it verifies nothing more and may be removed. */
  notAfter: string | null;
}

export const AUDIT_OUTCOMES = ['changed', 'unchanged', 'not_found', 'invalid', 'denied', 'rate_limited', 'error'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * What kind of caller made a call, said outright where the actor is made (from the principal, the
 * console session, or the command line) and never guessed from a missing role (contract 7):
 * - `administrator`: an Administration API key or a console administrator; `subject` its access id
 *   or administrator id, `role` its role;
 * - `oauth_client`: an OAuth client with an access token, or proven by its assertion at the token
 *   endpoint; `subject` its client id, no role (its scopes decide);
 * - `operator`: someone at the server's own machine: `cli:<user>` from the command line, or the
 *   name of a server process (`server`, `emulator-seed`); no role;
 * - `unauthenticated`: no proven caller (a refused token, a failed sign-in); `subject` null.
 */
export const CALLER_KINDS = ['administrator', 'oauth_client', 'operator', 'unauthenticated'] as const;
export type CallerKind = (typeof CALLER_KINDS)[number];

/** Who made a call and from where: the part of an audit event the HTTP layer knows. */
export interface Actor {
  kind: CallerKind;
  subject: string | null;
  role: Role | null;
  clientAddress: string | null;
  requestId: string | null;
}

/**
 * Why the token endpoint refused a request, when it was one of these (contract 10): a client that
 * does not exist, an assertion that does not prove the client it names, an assertion already
 * spent, a scope the client may not be granted. Other refusals (a malformed request, a rate limit)
 * are told by the event's outcome alone.
 */
export const TOKEN_REFUSALS = ['unknown_client', 'invalid_assertion', 'replayed_assertion', 'scope_not_allowed'] as const;
export type TokenRefusal = (typeof TOKEN_REFUSALS)[number];

export interface AuditTarget {
  userId?: string;
  deviceSerialNumber?: string;
  tokenSerialNumber?: string;
  email?: string;
  accessId?: string;
  /** An OAuth client's id. */
  clientId?: string;
  /**
   * `oauth.token`: `clientId` is only what the assertion claimed (its `iss`): the request was
   * refused before the assertion proved it. Absent when the client was proven.
   */
  clientUnverified?: true;
  /** `oauth.token`: the scopes granted (or, refused, asked for), space-separated; or the one scope refused. */
  scope?: string;
  /** `oauth.token`: the class of a refusal, when it was one of `TOKEN_REFUSALS`. */
  refusal?: TokenRefusal;
  /** How many records an import added. */
  count?: string;
  /** A console administrator (`admin.*`, `console.*` events). */
  adminId?: string;
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
  /** When the event was committed to the trail: the event log's `eventLogDate` (docs/contract.md, section 11). */
  loggedAt: string;
}

/**
 * A person who administers the tenant through the console, signing in with a passkey. Invited
 * (no passkey yet), then enrolled; revoked ends every session at once and for good.
 */
export interface Admin {
  id: string;
  email: string;
  role: Role;
  createdAt: string;
  /** Who invited them (an administrator's id, or `cli:<user>`). */
  createdBy: string | null;
  enrolledAt: string | null;
  revokedAt: string | null;
}

/** A WebAuthn credential of an administrator: a passkey or a FIDO2 security key (a DS100 is one). */
export interface Passkey {
  /** The credential id, base64url. */
  id: string;
  adminId: string;
  /** The COSE public key, base64url. */
  publicKey: string;
  /** The authenticator's signature counter at its last use (0 for those that keep none). */
  counter: number;
  transports: string[];
  createdAt: string;
  lastUsedAt: string | null;
}

/** A one-time enrolment link as stored: only the hash of its secret. */
export interface AdminInvite {
  tokenHash: string;
  adminId: string;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
}

/** A signed-in console session as stored: only the hash of the cookie's secret. */
export interface ConsoleSession {
  idHash: string;
  adminId: string;
  createdAt: string;
  lastSeenAt: string;
}
