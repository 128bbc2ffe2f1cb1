import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { endpoints } from '../../contract/endpoints.ts';
import { IDENTIFIER } from '../../contract/schemas.ts';
import type { CredentialService } from '../../domain/credentials.ts';
import type { DirectoryService } from '../../domain/directory.ts';
import type { Store } from '../../domain/store.ts';
import type { Actor, Credential, Role } from '../../domain/types.ts';
import { apiError } from '../../errors.ts';
import type { Clock } from '../../domain/clock.ts';
import { API_PATH, consoleActor, type ConsoleGuards } from './session.ts';

/** Most users a search by e-mail prefix answers with. */
export const SEARCH_LIMIT = 25;

const Id = Type.String({ minLength: 1, maxLength: IDENTIFIER.maxLength });
const object = <P extends Record<string, TSchema>>(properties: P) => Type.Object(properties, { additionalProperties: false });
const SetStatus = object({ userId: Id, deviceSerialNumber: Id });
const ClearPin = object({ userId: Id, tokenSerialNumber: Id });
const Delete = object({ userId: Id, deviceSerialNumber: Id, tokenSerialNumber: Id });
const Register = object({ userId: Id, deviceSerialNumber: Id, tokenSerialNumber: Type.Optional(Id) });

/** Registering a DS100 to a user is the directory's business: SuperAdmin only. */
export const REGISTER_ROLES = ['SuperAdmin'] as const satisfies readonly Role[];

/** Who made a change, as a person reads it: an administrator's e-mail address, an API key's or OAuth client's description. */
export async function nameSubjects(store: Store): Promise<(subject: string | null) => string | null> {
  const [admins, keys, clients] = await Promise.all([store.admins(), store.apiKeys(), store.oauthClients()]);
  const names = new Map<string, string>([
    ...admins.map((a) => [a.id, a.email] as const),
    ...keys.map((k) => [k.accessId, `API key ${k.description ?? k.accessId}`] as const),
    ...clients.map((c) => [c.clientId, `OAuth client ${c.description ?? c.clientId}`] as const),
  ]);
  return (subject) => (subject === null ? null : (names.get(subject) ?? subject));
}

export interface DirectoryRouteDeps {
  guards: ConsoleGuards;
  store: Store;
  clock: Clock;
  credentials: CredentialService;
  directory: DirectoryService;
}

/**
 * Search and the user page, and the four changes to a credential plus registration. Reads are
 * audited under the API's names (`users.lookup`, `ds100.lookup`); changes are audited by the
 * domain services themselves, as for the API.
 */
export function registerDirectoryRoutes(base: FastifyInstance, { guards, store, clock, credentials, directory }: DirectoryRouteDeps): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const readers = guards.signedIn({ roles: endpoints.lookupUser.roles });
  const query = (request: FastifyRequest, name: string): string => {
    const value = (request.query as Record<string, unknown>)[name];
    return typeof value === 'string' ? value.trim() : '';
  };
  const auditRead = (actor: Actor, operation: string, target: Record<string, string>, found: boolean) =>
    store.recordAudit({ ...actor, at: clock.nowIso(), operation, target, outcome: found ? 'unchanged' : 'not_found', status: found ? 200 : 404 });

  app.get(`${API_PATH}/users`, { onRequest: readers }, async (request) => {
    const prefix = query(request, 'email').toLowerCase();
    if (prefix.length === 0 || prefix.length > 254) throw apiError('INVALID_PROPERTY', 'email', 'must be 1 to 254 characters');
    const users = await store.usersByEmailPrefix(prefix, SEARCH_LIMIT);
    auditRead(consoleActor(request), 'users.lookup', { email: prefix }, users.length > 0);
    return { users, more: users.length === SEARCH_LIMIT };
  });

  app.get(`${API_PATH}/credentials`, { onRequest: readers }, async (request) => {
    const serial = query(request, 'serial');
    if (serial.length === 0 || serial.length > IDENTIFIER.maxLength) {
      throw apiError('INVALID_PROPERTY', 'serial', `must be 1 to ${IDENTIFIER.maxLength} characters`);
    }
    const byToken = await store.credentialByTokenSerial(serial);
    const found = byToken ? [byToken] : await store.credentialsByDevice(serial);
    auditRead(consoleActor(request), 'ds100.lookup', byToken ? { tokenSerialNumber: serial } : { deviceSerialNumber: serial }, found.length > 0);
    const users = new Map<string, string | null>();
    for (const c of found) if (!users.has(c.userId)) users.set(c.userId, (await store.userById(c.userId))?.emailAddress ?? null);
    return { credentials: found.map((c) => ({ ...c, userEmail: users.get(c.userId) ?? null })) };
  });

  app.get(`${API_PATH}/users/:userId`, { onRequest: readers }, async (request) => {
    const { userId } = request.params as { userId: string };
    const user = userId.length <= IDENTIFIER.maxLength ? await store.userById(userId) : null;
    if (!user) throw apiError('USER_NOT_FOUND', userId);
    const name = await nameSubjects(store);
    const list = await store.credentialsOfUser(user.id);
    return {
      user,
      credentials: list.map((c: Credential) => ({ ...c, tokenStatusChangedByName: name(c.tokenStatusChangedBy) })),
    };
  });

  /** A change through the domain service, with the signed-in administrator as the actor. */
  const change = <S extends TSchema>(path: string, body: S, roles: readonly Role[], audit: string, run: (actor: Actor & { subject: string }, body: Static<S>) => Promise<unknown>) =>
    app.post(`${API_PATH}/credentials/${path}`, { onRequest: guards.signedIn({ roles, audit }), schema: { body } }, async (request) => ({
      result: await run(consoleActor(request) as Actor & { subject: string }, request.body as Static<S>),
    }));

  change('enable', SetStatus, endpoints.enableOtp.roles, endpoints.enableOtp.audit, (actor, b) => credentials.enable(actor, b));
  change('disable', SetStatus, endpoints.disableOtp.roles, endpoints.disableOtp.audit, (actor, b) => credentials.disable(actor, b));
  change('clear-pin', ClearPin, endpoints.clearPin.roles, endpoints.clearPin.audit, (actor, b) => credentials.clearPin(actor, b));
  change('delete', Delete, endpoints.deleteOtp.roles, endpoints.deleteOtp.audit, async (actor, b) => {
    await credentials.delete(actor, b);
    return { deleted: b.tokenSerialNumber };
  });
  change('register', Register, REGISTER_ROLES, 'ds100.register', (actor, b) =>
    directory.register(actor, {
      user: b.userId,
      deviceSerialNumber: b.deviceSerialNumber,
      ...(b.tokenSerialNumber ? { tokenSerialNumber: b.tokenSerialNumber } : {}),
    }),
  );
}
