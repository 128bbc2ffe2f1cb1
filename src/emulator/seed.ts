import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { auditEvent } from '../domain/audit.ts';
import type { Clock } from '../domain/clock.ts';
import { makeDirectoryService } from '../domain/directory.ts';
import type { Store } from '../domain/store.ts';
import { OAUTH_ALGS, ROLES, SCOPES, type Actor, type ApiKey, type OAuthAlg, type Role, type Scope } from '../domain/types.ts';
import { ApiError, apiError } from '../errors.ts';
import { MAX_API_KEYS } from '../contract/limits.ts';
import { adminRestApiUrl, generateRsaKeyPair, writeKeyFile, writeSecretFile } from '../auth/keyfile.ts';
import { newOAuthClient } from '../auth/oauth-clients.ts';

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

/**
 * An OAuth client to seed (contract 10): `clientId` pins its id; `scopes` default to all of them;
 * `publicKey` registers a key the test made (PEM text, or a public JWK as an object or its JSON
 * text), else the emulator makes the pair (RS256: RSA-2048, ES256: P-256) and writes the private
 * JWK file as `oauth-clients create` does.
 */
export const SeedOAuthClient = Type.Object(
  {
    clientId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$' })),
    scopes: Type.Optional(Type.Array(Type.Union(SCOPES.map((s) => Type.Literal(s))), { minItems: 1 })),
    alg: Type.Optional(Type.Union(OAUTH_ALGS.map((a) => Type.Literal(a)))),
    publicKey: Type.Optional(Type.Union([Type.String(), Type.Object({}, { additionalProperties: true })])),
    description: Type.Optional(NullableText),
  },
  strict,
);

export const Seed = Type.Object(
  {
    users: Type.Optional(Type.Array(SeedUser)),
    registrations: Type.Optional(Type.Array(SeedRegistration)),
    keys: Type.Optional(Type.Array(SeedKey)),
    oauthClients: Type.Optional(Type.Array(SeedOAuthClient)),
  },
  strict,
);
export type Seed = Static<typeof Seed>;

/** A seed as the emulator applies it: its own default client also names the pair to use (one kept from earlier runs). */
export type SeedInput = Omit<Seed, 'oauthClients'> & { oauthClients?: Array<Static<typeof SeedOAuthClient> & { privateKeyPem?: string }> };

/** What a seed made: the ids of its records, and the files of the private keys it made or was given. */
export interface SeedResult {
  users: string[];
  registrations: Array<{ id: string; tokenSerialNumber: string; userId: string }>;
  keys: Array<{ accessId: string; role: Role; keyFile: string }>;
  /** `jwkFile`: the private JWK the emulator made, null for a client whose public key the seed gave. */
  oauthClients: Array<{ clientId: string; scopes: Scope[]; alg: OAuthAlg; kid: string; jwkFile: string | null }>;
}

/** TypeBox knows no format until told: these are the two the emulator's bodies use. */
FormatRegistry.Set('date-time', (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) && !Number.isNaN(Date.parse(v)));
FormatRegistry.Set('uuid', (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v));

/** The first place `value` breaks `schema`: its JSON pointer (`/users/2/email`) and the rule (`expected string`). */
function firstError(schema: TSchema, value: unknown): { pointer: string; rule: string } | null {
  const error = Value.Errors(schema, value).First();
  return error ? { pointer: error.path, rule: error.message.toLowerCase() } : null;
}

/**
 * `value` as `schema` says, or the 400 that names the first place it is not (`/users/2/email
 * expected string`). The same check for the control API's bodies and a seed file.
 */
export function checked<S extends TSchema>(what: string, schema: S, value: unknown): Static<S> {
  const error = firstError(schema, value);
  if (error) throw apiError('EMULATOR_INVALID', what, error.pointer || '(the whole value)', error.rule);
  return value as Static<S>;
}

export function checkSeed(value: unknown): Seed {
  return checked('seed', Seed, value);
}

/**
 * A refusal of one record of a seed (`registrations/3: OTP credential ... already exists`), with
 * the record's JSON pointer, so that a seed file's refusal can name the line too.
 */
export class SeedRecordError extends ApiError {
  /** What is wrong, without the record's name. */
  readonly detail: string;
  constructor(
    error: ApiError,
    readonly pointer: string,
    /** `named`: the error's description names the place already. */
    { named = false }: { named?: boolean } = {},
  ) {
    super(error.errorName, named ? error.description : `${pointer.slice(1)}: ${error.description}`);
    this.detail = error.description;
  }
}

/** An error of one record, named by where it is in the seed (`users/3: User ... already exists`). */
const at = (pointer: string, error: unknown): unknown => (error instanceof ApiError ? new SeedRecordError(error, pointer) : error);

/** A seed file read and checked, and where each of its parts is written. */
export interface SeedFile {
  path: string;
  seed: Seed;
  /** `line 12` for a JSON pointer into the file (its closest part that is there), or null. */
  lineOf(pointer: string): Promise<string | null>;
}

const fileError = (path: string, where: string, problem: string): ApiError => apiError('SEED_FILE_INVALID', path, where, problem);

/** A JSON pointer's parts as the YAML document's path: array indexes as numbers. */
const pathOf = (pointer: string): Array<string | number> =>
  pointer
    .split('/')
    .slice(1)
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((k) => (/^\d+$/.test(k) ? Number(k) : k));

/** A text parsed as YAML, with where each part of it is written (JSON is YAML 1.2: a JSON file's parts are found the same way). */
async function positioned(text: string) {
  const { LineCounter, parseDocument } = await import('yaml');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const node = (path: Array<string | number>) => doc.getIn(path, true) as { type?: string; value?: unknown; range?: [number, number, number] } | undefined;
  return {
    doc,
    node,
    position(offset: number): string {
      const { line, col } = lines.linePos(offset);
      return `line ${line}, column ${col}`;
    },
    lineOf(pointer: string): string | null {
      // The closest part that is there: a member the schema misses is on its object's line.
      const path = pathOf(pointer);
      for (let n = path.length; n >= 0; n--) {
        const range = node(path.slice(0, n))?.range;
        if (range) return `line ${lines.linePos(range[0]).line}`;
      }
      return null;
    },
  };
}

/**
 * A seed file: YAML (`.yaml`, `.yml`: YAML 1.2's core schema, through the `yaml` package) or
 * JSON (any other name). Whatever is wrong is refused naming the file, the line and what: a
 * syntax error (`line 3, column 9: ...`), a value the seed's schema refuses (`line 7
 * (/registrations/0/tokenSerialNumber): expected string`), with a word on YAML's plain numbers.
 * The YAML parser is loaded for a JSON file only to say where it is wrong.
 */
export async function readSeedFile(path: string): Promise<SeedFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw fileError(path, 'cannot be read', e.code === 'ENOENT' ? 'no such file' : (e.code ?? e.message));
  }
  const isYaml = /\.ya?ml$/i.test(path);
  let parsed: Awaited<ReturnType<typeof positioned>> | undefined;
  const located = async () => (parsed ??= await positioned(text));
  let value: unknown;
  if (isYaml) {
    const { doc, position } = await located();
    const error = doc.errors[0];
    if (error) throw fileError(path, position(error.pos[0]), error.message.replace(/\.$/, ''));
    // A file of comments alone seeds nothing.
    value = doc.toJS() ?? {};
  } else {
    try {
      value = JSON.parse(text);
    } catch (error) {
      const message = (error as Error).message;
      const offset = /at position (\d+)/.exec(message);
      const problem = message.replace(/ at position \d+.*$/s, '').replace(/^./, (c) => c.toLowerCase());
      throw fileError(path, offset ? (await located()).position(Number(offset[1])) : 'not JSON', problem);
    }
  }
  const lineOf = async (pointer: string) => (await located()).lineOf(pointer);
  const error = firstError(Seed, value);
  if (error) {
    const { node } = await located();
    const where = [await lineOf(error.pointer), error.pointer ? `(${error.pointer})` : '(the whole file)'].filter(Boolean).join(' ');
    // A plain scalar YAML read as a number where text was wanted (a serial number's leading 0 then lost).
    const written = isYaml && error.rule === 'expected string' ? node(pathOf(error.pointer)) : undefined;
    const hint =
      written?.type === 'PLAIN' && typeof written.value === 'number' && written.range
        ? ` (YAML reads ${text.slice(written.range[0], written.range[1])} as a number: quote it, '${text.slice(written.range[0], written.range[1])}')`
        : '';
    throw fileError(path, where, `${error.rule}${hint}`);
  }
  return { path, seed: value as Seed, lineOf };
}

/** Where an error of a seed file's record was written: its message with the file and line before it. */
export async function inSeedFile(file: SeedFile, error: unknown): Promise<unknown> {
  if (!(error instanceof SeedRecordError)) return error;
  const line = await file.lineOf(error.pointer);
  return fileError(file.path, `${line ? `${line} ` : ''}(${error.pointer})`, error.detail.replace(/\.$/, ''));
}

/** The audit target of a bulk change: how many records it added, as imports record it. */
const count = (n: number): Record<string, string> => ({ count: String(n) });

/** The first of `ids` that an earlier one repeats, with its index. */
function repeated(ids: Array<string | undefined>): { index: number; id: string } | null {
  const seen = new Set<string>();
  for (const [index, id] of ids.entries()) {
    if (id === undefined) continue;
    if (seen.has(id)) return { index, id };
    seen.add(id);
  }
  return null;
}

/** A file of the seed's made keys is named by the record's id: a name taken means the id is. */
async function writeOnce(write: () => Promise<string>, pointer: string, id: string): Promise<string> {
  try {
    return await write();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw at(pointer, apiError('EMULATOR_INVALID', 'seed', id, 'is the id of a record already there'));
    throw error;
  }
}

/**
 * Adds a seed's records to the store in one transaction: all of them, or (a record breaks a rule
 * of the tenant, the five-DS100 or ten-key cap, an id already taken) none. Keys whose private key
 * the seed does not give are made here, and so are the key pairs of OAuth clients whose public key
 * it does not give; each key gets a key file, and each client whose key was made here its private
 * JWK file (mode 0600, as `oauth-clients create` writes it), in `keyDir`, written before the
 * commit and removed again if the seed is refused.
 */
export async function applySeed(
  seed: SeedInput,
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
          const pointer = `/keys/${i}/privateKeyPem`;
          throw new SeedRecordError(apiError('EMULATOR_INVALID', 'seed', pointer, 'is not an RSA private key in PEM'), pointer, { named: true });
        }
      }
      const key: ApiKey = { accessId: k.accessId ?? randomUUID(), role: k.role, description: k.description ?? null, publicKeyPem, createdAt: clock.nowIso() };
      return { key, privateKeyPem };
    }),
  );
  const clients = await Promise.all(
    (seed.oauthClients ?? []).map(async (c, i) => {
      try {
        return await newOAuthClient(
          {
            scopes: c.scopes ?? [...SCOPES],
            ...(c.alg !== undefined ? { alg: c.alg } : {}),
            ...(c.publicKey !== undefined ? { publicKey: typeof c.publicKey === 'string' ? c.publicKey : JSON.stringify(c.publicKey) } : {}),
            ...(c.privateKeyPem !== undefined ? { privateKeyPem: c.privateKeyPem } : {}),
            ...(c.clientId !== undefined ? { clientId: c.clientId } : {}),
            description: c.description ?? null,
          },
          clock.nowIso(),
        );
      } catch (error) {
        throw at(`/oauthClients/${i}`, error);
      }
    }),
  );
  const twiceKey = repeated(keys.map(({ key }) => key.accessId));
  if (twiceKey) throw at(`/keys/${twiceKey.index}`, apiError('EMULATOR_INVALID', 'seed', twiceKey.id, 'is the access id of an earlier key of the seed'));
  const twiceClient = repeated(clients.map(({ client }) => client.clientId));
  if (twiceClient) throw at(`/oauthClients/${twiceClient.index}`, apiError('EMULATOR_INVALID', 'seed', twiceClient.id, 'is the id of an earlier client of the seed'));
  const keyTaken = (i: number, id: string) => at(`/keys/${i}`, apiError('EMULATOR_INVALID', 'seed', id, 'is the access id of a key already there'));
  const clientTaken = (i: number, id: string) => at(`/oauthClients/${i}`, apiError('EMULATOR_INVALID', 'seed', id, 'is the id of an OAuth client already there'));
  // Checked before any file is written (a file is named by the id), and again in the transaction.
  for (const [i, { key }] of keys.entries()) if (await store.apiKey(key.accessId)) throw keyTaken(i, key.accessId);
  for (const [i, { client }] of clients.entries()) if (await store.oauthClient(client.clientId)) throw clientTaken(i, client.clientId);

  const written: string[] = [];
  try {
    const keyFiles: string[] = [];
    for (const [i, { key, privateKeyPem }] of keys.entries()) {
      const file = await writeOnce(
        () =>
          writeKeyFile(deps.keyDir, {
            customerName: 'ds100-admin emulator',
            accessID: key.accessId,
            description: key.description ?? '',
            accessKey: privateKeyPem,
            adminRestApiUrl: adminRestApiUrl(deps.publicUrl),
          }),
        `/keys/${i}`,
        key.accessId,
      );
      written.push(file);
      keyFiles.push(file);
    }
    const jwkFiles: Array<string | null> = [];
    for (const [i, { client, jwkFile }] of clients.entries()) {
      const file = jwkFile ? await writeOnce(() => writeSecretFile(deps.keyDir, `${client.clientId}.json`, jwkFile), `/oauthClients/${i}`, client.clientId) : null;
      if (file) written.push(file);
      jwkFiles.push(file);
    }
    const directory = makeDirectoryService({ store, clock });
    const made = await store.transaction(async (tx) => {
      const users: string[] = [];
      for (const [i, u] of (seed.users ?? []).entries()) {
        try {
          users.push((await directory.within(tx).addUser(u)).id);
        } catch (error) {
          throw at(`/users/${i}`, error);
        }
      }
      const registrations: SeedResult['registrations'] = [];
      for (const [i, r] of (seed.registrations ?? []).entries()) {
        try {
          const c = await directory.within(tx).register(r);
          registrations.push({ id: c.id, tokenSerialNumber: c.tokenSerialNumber, userId: c.userId });
        } catch (error) {
          throw at(`/registrations/${i}`, error);
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
          if (await tx.apiKey(key.accessId)) throw keyTaken(i, key.accessId);
          await tx.insertApiKey(key);
          await tx.appendAudit(auditEvent(actor, key.createdAt, 'apikey.create', { accessId: key.accessId }, 'changed', 200));
        }
      }
      for (const [i, { client }] of clients.entries()) {
        if (await tx.oauthClient(client.clientId)) throw clientTaken(i, client.clientId);
        await tx.insertOAuthClient(client);
        await tx.appendAudit(auditEvent(actor, client.createdAt, 'oauthclient.create', { clientId: client.clientId }, 'changed', 200));
      }
      return { users, registrations };
    });
    return {
      ...made,
      keys: keys.map(({ key }, i) => ({ accessId: key.accessId, role: key.role, keyFile: keyFiles[i]! })),
      oauthClients: clients.map(({ client }, i) => ({ clientId: client.clientId, scopes: client.scopes, alg: client.alg, kid: client.kid, jwkFile: jwkFiles[i]! })),
    };
  } catch (error) {
    await Promise.all(written.map((path) => rm(path, { force: true })));
    throw error;
  }
}
