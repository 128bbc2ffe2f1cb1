/** A server per test file, the directory records a test makes, and the audit trail and store state it checks. */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { systemClock } from '../../src/domain/clock.ts';
import { makeDirectoryService, type NewRegistration, type NewUser } from '../../src/domain/directory.ts';
import { type Actor, type AuditOutcome, type Credential, type Role, type StoredAuditEvent, type User } from '../../src/domain/types.ts';
import type { Store } from '../../src/domain/store.ts';
import { startServer, type Reply, type RequestOptions, type StartOptions, type TestServer } from '../support/server.ts';
import { type Endpoint, assertTimestamp, assertWire } from './wire.ts';

// ---------------------------------------------------------------------------------------------
// A server per test file

export interface ServerContext {
  readonly server: TestServer;
}

/** Starts one server before the file's tests and closes it after them. */
export function useServer(options: StartOptions = {}): ServerContext {
  let server: TestServer | undefined;
  before(async () => {
    server = await startServer(options);
  });
  after(async () => {
    await server?.close();
  });
  return {
    get server(): TestServer {
      if (!server) throw new Error('the server is not started');
      return server;
    },
  };
}

/** Sends `body` to `endpoint` (options as the harness takes them). */
export function call(server: TestServer, endpoint: Endpoint, body?: unknown, options?: RequestOptions): Promise<Reply> {
  return server.request(endpoint.method, endpoint.path, body, options);
}

/** The call and the moments around it, for timestamps the server makes. */
export async function timed(send: () => Promise<Reply>): Promise<{ reply: Reply; sentAt: number; answeredAt: number }> {
  const sentAt = Date.now();
  const reply = await send();
  return { reply, sentAt, answeredAt: Date.now() };
}

// ---------------------------------------------------------------------------------------------
// The directory: users and DS100 registrations made for a test

const seeder: Actor = { kind: 'operator', subject: 'contract-test', role: null, clientAddress: 'local', requestId: null };
let sequence = 0;

/** A fresh number for names and serials, unique within the test process. */
export const fresh = (): number => ++sequence;

export function addUser(server: TestServer, input: Partial<NewUser> = {}): Promise<User> {
  const n = fresh();
  return makeDirectoryService({ store: server.store, clock: systemClock }).addUser(seeder, {
    email: `user${n}@example.com`,
    firstName: `First${n}`,
    lastName: `Last${n}`,
    ...input,
  });
}

export function register(server: TestServer, input: NewRegistration): Promise<Credential> {
  return makeDirectoryService({ store: server.store, clock: systemClock }).register(seeder, input);
}

/** A device serial of nine digits, like the vendor's, that no other test uses. */
export const freshDevice = (): string => String(700_000_000 + fresh());

/**
 * A new user (unless `userId` names one) holding a new DS100 (unless `deviceSerialNumber` names one) with one
 * OTP credential.
 */
export async function newCredential(
  server: TestServer,
  options: Partial<Omit<NewRegistration, 'user'>> & { userId?: string } = {},
): Promise<Credential> {
  const { userId, ...registration } = options;
  const user = userId ?? (await addUser(server)).id;
  return register(server, { deviceSerialNumber: freshDevice(), ...registration, user });
}

/** The body that names `credential` to a DS100 endpoint, properties in the documented order. */
export function bodyFor(endpoint: Endpoint, credential: Credential): Record<string, string> {
  return Object.fromEntries(Object.keys(endpoint.properties).map((k) => [k, String(credential[k as keyof Credential])]));
}

/** User ids the vendor's clients send that are not RFC 4122 UUIDs, and must be taken as they are (spec 1). */
export const oddUserIds = (): string[] => {
  const n = String(fresh()).padStart(4, '0');
  return [`ece30fe9-414c-7536-5403-0656220b${n}`, `CDDEDCEC-4444-5555-6666-06E3F899${n}`, `user-${n}`, `${n}`.padEnd(36, 'u')];
};

// ---------------------------------------------------------------------------------------------
// Audit trail and store state

const seqOf = (trail: StoredAuditEvent[]): number => trail.at(-1)?.seq ?? 0;

/** Audit events after `afterSeq`, once the event of `reply`'s request is committed. */
export async function eventsSince(store: Store, afterSeq: number, reply: Reply): Promise<StoredAuditEvent[]> {
  const requestId = reply.headers.get('x-request-id');
  let events: StoredAuditEvent[] = [];
  // The event of a call that changed nothing is written after the answer (spec 7 lets a read
  // answer without waiting for a disk flush): wait for it, by turns of the event loop, not time.
  for (let turn = 0; turn < 1000; turn++) {
    await store.flush();
    events = (await store.audit()).filter((e) => e.seq > afterSeq);
    if (events.some((e) => e.requestId === requestId)) break;
    await nextTurn();
  }
  return events;
}

export async function lastSeq(store: Store): Promise<number> {
  await store.flush();
  return seqOf(await store.audit());
}

/**
 * The one audit event of the call `send` makes (fails if the call left none or more than one),
 * and the moments the call was sent and answered.
 */
export async function auditedCall(
  server: TestServer,
  send: () => Promise<Reply>,
): Promise<{ reply: Reply; event: StoredAuditEvent; sentAt: number; answeredAt: number }> {
  const since = await lastSeq(server.store);
  const { reply, sentAt, answeredAt } = await timed(send);
  const events = await eventsSince(server.store, since, reply);
  assert.equal(events.length, 1, `exactly one audit event: ${JSON.stringify(events)}`);
  const event = events[0]!;
  assert.equal(event.requestId, reply.headers.get('x-request-id'), 'the event names the request');
  assert.equal(event.clientAddress, '127.0.0.1', 'the event names the client address');
  assertTimestamp(event.at, 'the event time');
  return { reply, event, sentAt, answeredAt };
}

const text = (body: Record<string, unknown>, key: string): string | null => (typeof body[key] === 'string' ? (body[key] as string) : null);

/** Everything in the store that the identifiers of `body` reach, plus the keys: what a refused call must leave alone. */
export async function stateOf(store: Store, body: Record<string, unknown>): Promise<unknown> {
  const userId = text(body, 'userId');
  const email = text(body, 'email');
  const device = text(body, 'deviceSerialNumber');
  const token = text(body, 'tokenSerialNumber');
  const user = userId ? await store.userById(userId) : null;
  return {
    user,
    userByEmail: email ? await store.userByEmail(email) : null,
    device: device ? await store.credentialsByDevice(device) : [],
    userDevice: userId && device ? await store.credentialsOfUserDevice(userId, device) : [],
    token: token ? await store.credentialByTokenSerial(token) : null,
    keys: await store.apiKeys(),
  };
}

export interface Refusal {
  status: 400 | 403 | 404 | 413;
  outcome: Extract<AuditOutcome, 'invalid' | 'denied' | 'not_found'>;
  /** The exact body expected (key order included); 403 bodies are checked by `assertForbidden`. */
  body?: unknown;
  /** The audit event's subject and role, when the caller is known. */
  by?: { subject: string | null; role: Role | null };
}

/**
 * Sends a call that must be refused, and checks the refusal: its status and body, that the store
 * reached by `watched` (a valid body's identifiers) is exactly as it was, and that the call left
 * exactly one audit event, with the refusal's outcome and status.
 */
export async function expectRefused(
  server: TestServer,
  endpoint: Endpoint,
  watched: Record<string, unknown>,
  send: () => Promise<Reply>,
  expected: Refusal,
): Promise<{ reply: Reply; event: StoredAuditEvent }> {
  const before = await stateOf(server.store, watched);
  const { reply, event } = await auditedCall(server, send);
  assert.equal(reply.status, expected.status, reply.text);
  if (expected.body !== undefined) {
    assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
    assertWire(reply.json, expected.body);
  }
  assert.deepEqual(
    { operation: event.operation, outcome: event.outcome, status: event.status },
    { operation: endpoint.operation, outcome: expected.outcome, status: expected.status },
  );
  if (expected.by) assert.deepEqual({ subject: event.subject, role: event.role }, expected.by);
  assert.deepEqual(await stateOf(server.store, watched), before, 'the refused call changed nothing');
  return { reply, event };
}

/** Who a role's test key is, as the audit trail names it. */
export const caller = (server: TestServer, role: Role = 'HelpDeskAdmin') => ({ subject: server.keys[role].keyFile.accessID, role });
