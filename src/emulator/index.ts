import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyServerOptions } from 'fastify';
import { REST_BASE_PATH } from '../contract/limits.ts';
import { loadDemo } from '../domain/demo-seed.ts';
import { oauthIssuer } from '../auth/oauth-clients.ts';
import { makeSigningKeys } from '../auth/signing-keys.ts';
import { ROLES, SCOPES, type Actor, type Role } from '../domain/types.ts';
import { DEFAULT_RATE_LIMITS, REDACTED_PATHS, buildApp, type RateLimits } from '../http/app.ts';
import { makeMemoryRateLimiter, type RateLimiter } from '../ratelimit/limiter.ts';
import { makeEmulatorClock } from './clock.ts';
import { makeFaults } from './faults.ts';
import { makeJournal } from './journal.ts';
import { pooledKeyPairs } from './key-pool.ts';
import { CONTROL_PREFIX, installEmulator } from './plugin.ts';
import { applySeed, checkSeed, inSeedFile, readSeedFile, type Seed, type SeedInput, type SeedResult } from './seed.ts';
import { EmulatorControl } from './control-client.ts';

export { EmulatorControl } from './control-client.ts';
export type { Seed, SeedResult } from './seed.ts';
export type { ClockChange, ClockState } from './clock.ts';
export type { FaultInput, FaultRule } from './faults.ts';
export type { JournalEntry, JournalFilter } from './journal.ts';

export interface EmulatorOptions {
  /** The records to start with (and to go back to on reset): a seed, or the path of a seed file (JSON, or YAML named `.yaml`/`.yml`). */
  seed?: Seed | string;
  /** Load the directory of the vendor's published examples too (`serve --demo`). */
  demo?: boolean;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Default: those of `serve`. */
  rateLimits?: RateLimits;
  /** Default: no log. */
  logger?: FastifyServerOptions['logger'] | false;
  /** Serve HTTPS with a certificate from a CA made for this emulator (`caFile` names it). */
  tlsSelfSigned?: boolean;
}

/** What `emulate` prints as its one JSON line, and `startEmulator` answers. */
export interface EmulatorInfo {
  /** The server's public URL: `http://127.0.0.1:PORT`. */
  baseUrl: string;
  /** The admin REST URL, as in a key file: `{baseUrl}/AdminInterface/restapi`. */
  restApiUrl: string;
  /** The OAuth issuer, `{baseUrl}/oauth`: the token endpoint is `{issuerUrl}/token` (contract 10). */
  issuerUrl: string;
  /** `{baseUrl}/_emulator`. */
  controlUrl: string;
  /** Send as `Authorization: Bearer <controlToken>` to the control API. */
  controlToken: string;
  /** A key file per role (the first key of that role the seed gave, or one made for it). */
  keyFiles: Record<Role, string>;
  /** Every key of the seed, with its key file. */
  keys: SeedResult['keys'];
  /** The records the start-up seed made, by id. */
  seeded: Omit<SeedResult, 'keys' | 'oauthClients'>;
  /**
   * An OAuth client with every scope, ready to use: the first such client of the seed whose key
   * the emulator made, or one made for it. Its private JWK file (mode 0600) is `oauthClientJwkFile`.
   */
  oauthClientId: string;
  oauthClientJwkFile: string;
  /** Every OAuth client of the seed and the default one, with its private JWK file (null for a public key the seed gave). */
  oauthClients: SeedResult['oauthClients'];
  /** The CA file under `tlsSelfSigned` (trust it to reach `baseUrl`); null over plain HTTP. */
  caFile: string | null;
  /** The throwaway folder of the database and key files, removed by `close`. */
  dataDir: string;
}

export interface Emulator extends EmulatorInfo {
  control: EmulatorControl;
  close(): Promise<void>;
}

const seeder: Actor = { kind: 'operator', subject: 'emulator-seed', role: null, clientAddress: 'local', requestId: null };

/** Memory-backed when the system has one (Linux's /dev/shm): no fsync reaches a disk, and a reset copies in RAM. */
const scratchRoot = (): string => (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());

/**
 * `ds100-admin emulate` from code: the real server over a throwaway SQLite store, seeded, with the
 * control API (`/_emulator/`: reset, seed, clock, faults, journal) and a typed client for it.
 *
 * @example
 * ```ts
 * const emulator = await startEmulator({ seed: { users: [{ id: 'u1', email: 'a@example.com' }] } });
 * const client = await Ds100AdminClient.fromKeyFile(emulator.keyFiles.HelpDeskAdmin);
 * await emulator.control.addFault({ path: '/v1/users/lookup', status: 503, count: 1 });
 * await emulator.close();
 * ```
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  // A seed file that is wrong is refused before anything is made or started.
  const file = typeof options.seed === 'string' ? await readSeedFile(options.seed) : undefined;
  const seed = file ? file.seed : checkSeed(options.seed ?? {});
  const dataDir = await mkdtemp(join(scratchRoot(), 'ds100-emulate-'));
  const keyDir = join(dataDir, 'keys');
  const closers: Array<() => Promise<void>> = [() => rm(dataDir, { recursive: true, force: true })];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const { openResettableStore } = await import('./store.ts');
    const resettable = await openResettableStore(dataDir);
    closers.push(() => resettable.store.close());
    const clock = makeEmulatorClock();
    const rateLimits = options.rateLimits ?? DEFAULT_RATE_LIMITS;
    let buckets = makeMemoryRateLimiter(clock);
    const limiter: RateLimiter = { take: (bucket, policy) => buckets.take(bucket, policy) };
    let baseUrl = '';
    const listenHost = options.host ?? '127.0.0.1';
    const selfSigned = options.tlsSelfSigned
      ? await (await import('../tls/self-signed.ts')).ensureSelfSigned({ dataDir, publicHost: listenHost === '0.0.0.0' ? '127.0.0.1' : listenHost })
      : undefined;
    const app = buildApp({
      ...(selfSigned ? { tls: selfSigned.pair } : {}),
      store: resettable.store,
      clock,
      publicUrl: () => baseUrl,
      rateLimits,
      limiter,
      // No console: its administrators enrol passkeys in a tenant that a test harness throws away.
      console: false,
      logger: options.logger ? { ...(options.logger === true ? {} : options.logger), redact: REDACTED_PATHS } : false,
    });
    closers.push(() => app.close());
    const controlToken = randomBytes(32).toString('base64url');
    const faults = makeFaults();
    const journal = makeJournal();
    // Key and JWK files of records seeded after start-up go with them on reset.
    let started = false;
    const laterFiles: string[] = [];
    const seedNow = async (s: SeedInput): Promise<SeedResult> => {
      const made = await applySeed(s, { store: resettable.store, clock, actor: seeder, publicUrl: baseUrl, keyDir });
      if (started) laterFiles.push(...made.keys.map((k) => k.keyFile), ...made.oauthClients.flatMap((c) => (c.jwkFile ? [c.jwkFile] : [])));
      return made;
    };
    installEmulator(app, {
      controlToken,
      faults,
      journal,
      perKey: rateLimits.perKey,
      clock,
      seed: seedNow,
      async reset() {
        await resettable.restore();
        await Promise.all(laterFiles.splice(0).map((path) => rm(path, { force: true })));
        clock.reset();
        buckets = makeMemoryRateLimiter(clock);
        faults.clear();
        journal.clear();
      },
    });

    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    const host = (options.host ?? '127.0.0.1').includes(':') ? `[${options.host}]` : (options.host ?? '127.0.0.1');
    baseUrl = `${selfSigned ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;

    if (options.demo) await loadDemo(resettable.store, clock, seeder);
    // The server's token signing key, made now rather than by the first grant: part of the
    // seeded state, it survives a reset, as the access tokens it signed do (until they expire).
    await makeSigningKeys({ store: resettable.store, clock }).current();
    // A key per role the seed names none for, so that a test can call as any role at once, and an
    // OAuth client with every scope unless the seed has one whose key the emulator makes.
    const missing = ROLES.filter((role) => !(seed.keys ?? []).some((k) => k.role === role));
    const hasDefaultClient = (seed.oauthClients ?? []).some((c) => c.publicKey === undefined && (c.scopes === undefined || SCOPES.every((s) => c.scopes!.includes(s))));
    const pairs = await pooledKeyPairs(missing.length + (hasDefaultClient ? 0 : 1));
    const defaults = missing.map((role, i) => ({ role, description: `emulator ${role}`, privateKeyPem: pairs[i]!.privateKeyPem }));
    const defaultClient = hasDefaultClient ? [] : [{ description: 'emulator default: every scope', privateKeyPem: pairs[missing.length]!.privateKeyPem }];
    let made: SeedResult;
    try {
      made = await seedNow({ ...seed, keys: [...(seed.keys ?? []), ...defaults], oauthClients: [...(seed.oauthClients ?? []), ...defaultClient] });
    } catch (error) {
      throw file ? await inSeedFile(file, error) : error;
    }
    await resettable.snapshot();
    started = true;
    const oauthClient = made.oauthClients.find((c) => c.jwkFile !== null && SCOPES.every((s) => c.scopes.includes(s)))!;

    const keyFiles = {} as Record<Role, string>;
    for (const k of made.keys) keyFiles[k.role] ??= k.keyFile;
    const info: EmulatorInfo = {
      baseUrl,
      restApiUrl: `${baseUrl}${REST_BASE_PATH}`,
      issuerUrl: oauthIssuer(baseUrl),
      controlUrl: `${baseUrl}${CONTROL_PREFIX}`,
      controlToken,
      keyFiles,
      keys: made.keys,
      seeded: { users: made.users, registrations: made.registrations },
      oauthClientId: oauthClient.clientId,
      oauthClientJwkFile: oauthClient.jwkFile!,
      oauthClients: made.oauthClients,
      caFile: selfSigned?.files.caFile ?? null,
      dataDir,
    };
    return { ...info, control: new EmulatorControl(info.controlUrl, controlToken), close };
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}
