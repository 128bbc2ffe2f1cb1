import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { auditEvent } from '../domain/audit.ts';
import type { Clock } from '../domain/clock.ts';
import { makeDirectoryService } from '../domain/directory.ts';
import type { Store } from '../domain/store.ts';
import { ROLES, type Actor, type ApiKey, type Role } from '../domain/types.ts';
import { ApiError, apiError } from '../errors.ts';
import { MAX_API_KEYS } from '../contract/limits.ts';
import { adminRestApiUrl, generateRsaKeyPair, writeKeyFile } from '../auth/keyfile.ts';

const Text = Type.String();
const NullableText = Type.Union([Type.String(), Type.Null()]);
const strict = { additionalProperties: false } as const;

/** A user to seed; `id` pins the id a test expects. */
export const SeedUser = Type.Object(
  {
    id: Type.Optional(Text),
    email: Text,
    firstName: Type.Optional(NullableText),
    lastName: Type.Optional(NullableText),
    identitySource: Type.Optional(NullableText),
  },
  strict,
);

/** A DS100 registration to seed, in any status, its PIN set or not. `user` is a user id or an e-mail address. */
export const SeedRegistration = Type.Object(
  {
    user: Text,
    deviceSerialNumber: Text,
    tokenSerialNumber: Type.Optional(Text),
    tokenStatus: Type.Optional(Type.Union([Type.Literal('Enabled'), Type.Literal('Disabled')])),
    pinSet: Type.Optional(Type.Boolean()),
    name: Type.Optional(NullableText),
    id: Type.Optional(Text),
    registeredDate: Type.Optional(Type.String({ format: 'date-time' })),
    updatedAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  strict,
);

/** An Administration API key to seed: its access id and private key may be pinned (else they are made). */
export const SeedKey = Type.Object(
  {
    accessId: Type.Optional(Type.String({ format: 'uuid' })),
    role: Type.Union(ROLES.map((r) => Type.Literal(r))),
    description: Type.Optional(NullableText),
    privateKeyPem: Type.Optional(Text),
  },
  strict,
);

export const Seed = Type.Object(
  {
    users: Type.Optional(Type.Array(SeedUser)),
    registrations: Type.Optional(Type.Array(SeedRegistration)),
    keys: Type.Optional(Type.Array(SeedKey)),
    // OAuth clients plug in here once the server has them (docs/contract.md, section 10).
    oauthClients: Type.Optional(Type.Array(Type.Unknown())),
  },
  strict,
);
export type Seed = Static<typeof Seed>;

/** What a seed made: the ids of its records and the key files of its keys. */
export interface SeedResult {
  users: string[];
  registrations: Array<{ id: string; tokenSerialNumber: string; userId: string }>;
  keys: Array<{ accessId: string; role: Role; keyFile: string }>;
}

/** TypeBox knows no format until told: these are the two the emulator's bodies use. */
FormatRegistry.Set('date-time', (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) && !Number.isNaN(Date.parse(v)));
FormatRegistry.Set('uuid', (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v));

/**
 * `value` as `schema` says, or the 400 that names the first place it is not (`/users/2/email
 * expected string`). The same check for the control API's bodies and a seed file.
 */
export function checked<S extends TSchema>(what: string, schema: S, value: unknown): Static<S> {
  const error = Value.Errors(schema, value).First();
  if (error) throw apiError('EMULATOR_INVALID', what, error.path || '(the whole value)', error.message.toLowerCase());
  return value as Static<S>;
}

/** A seed file: JSON (YAML is not read: it would be a new dependency for a form JSON already covers). */
export async function readSeedFile(path: string): Promise<Seed> {
  const text = await readFile(path, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw apiError('EMULATOR_INVALID', 'seed', path, `is not JSON (${(error as Error).message})`);
  }
  return checkSeed(value);
}

export function checkSeed(value: unknown): Seed {
  const seed = checked('seed', Seed, value);
  if (seed.oauthClients !== undefined) throw apiError('SEED_UNSUPPORTED', 'oauthClients');
  return seed;
}

/** The audit target of a bulk change: how many records it added, as imports record it. */
const count = (n: number): Record<string, string> => ({ count: String(n) });

/** An error of one record, named by where it is in the seed (`users/3: User ... already exists`). */
const at = (where: string, error: unknown): unknown =>
  error instanceof ApiError ? new ApiError(error.errorName, `${where}: ${error.description}`) : error;

/**
 * Adds a seed's records to the store in one transaction: all of them, or (a record breaks a rule
 * of the tenant, the five-DS100 or ten-key cap, an id already taken) none. Keys whose private key
 * the seed does not give are made here; each key gets a key file in `keyDir`, written before the
 * commit and removed again if the seed is refused.
 */
export async function applySeed(
  seed: Seed,
  deps: { store: Store; clock: Clock; actor: Actor; publicUrl: string; keyDir: string },
): Promise<SeedResult> {
  const { store, clock, actor } = deps;
  const keys = await Promise.all(
    (seed.keys ?? []).map(async (k, i) => {
      let privateKeyPem = k.privateKeyPem;
      let publicKeyPem: string;
      if (privateKeyPem === undefined) ({ privateKeyPem, publicKeyPem } = await generateRsaKeyPair());
      else {
        try {
          const privateKey = createPrivateKey(privateKeyPem);
          if (privateKey.asymmetricKeyType !== 'rsa') throw new Error('not RSA');
          publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
        } catch {
          throw apiError('EMULATOR_INVALID', 'seed', `/keys/${i}/privateKeyPem`, 'is not an RSA private key in PEM');
        }
      }
      const key: ApiKey = { accessId: k.accessId ?? randomUUID(), role: k.role, description: k.description ?? null, publicKeyPem, createdAt: clock.nowIso() };
      return { key, privateKeyPem };
    }),
  );
  const written: string[] = [];
  try {
    for (const { key, privateKeyPem } of keys) {
      written.push(
        await writeKeyFile(deps.keyDir, {
          customerName: 'ds100-admin emulator',
          accessID: key.accessId,
          description: key.description ?? '',
          accessKey: privateKeyPem,
          adminRestApiUrl: adminRestApiUrl(deps.publicUrl),
        }),
      );
    }
    const directory = makeDirectoryService({ store, clock });
    const made = await store.transaction(async (tx) => {
      const users: string[] = [];
      for (const [i, u] of (seed.users ?? []).entries()) {
        try {
          users.push((await directory.within(tx).addUser(u)).id);
        } catch (error) {
          throw at(`users/${i}`, error);
        }
      }
      const registrations: SeedResult['registrations'] = [];
      for (const [i, r] of (seed.registrations ?? []).entries()) {
        try {
          const c = await directory.within(tx).register(r);
          registrations.push({ id: c.id, tokenSerialNumber: c.tokenSerialNumber, userId: c.userId });
        } catch (error) {
          throw at(`registrations/${i}`, error);
        }
      }
      if (users.length > 0) await tx.appendAudit(auditEvent(actor, clock.nowIso(), 'user.import', count(users.length), 'changed', 200));
      if (registrations.length > 0) {
        await tx.appendAudit(auditEvent(actor, clock.nowIso(), 'ds100.import', count(registrations.length), 'changed', 200));
      }
      if (keys.length > 0) {
        await tx.lockKeys();
        if ((await tx.apiKeys()).length + keys.length > MAX_API_KEYS) throw apiError('TOO_MANY_KEYS');
        for (const [i, { key }] of keys.entries()) {
          if (await tx.apiKey(key.accessId)) throw at(`keys/${i}`, apiError('EMULATOR_INVALID', 'seed', key.accessId, 'is the access id of a key already there'));
          await tx.insertApiKey(key);
          await tx.appendAudit(auditEvent(actor, key.createdAt, 'apikey.create', { accessId: key.accessId }, 'changed', 200));
        }
      }
      return { users, registrations };
    });
    return { ...made, keys: keys.map(({ key }, i) => ({ accessId: key.accessId, role: key.role, keyFile: written[i]! })) };
  } catch (error) {
    await Promise.all(written.map((path) => rm(path, { force: true })));
    throw error;
  }
}
