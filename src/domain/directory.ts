import { ApiError, apiError } from '../errors.ts';
import type { Store, StoreTx } from './store.ts';
import { auditEvent } from './audit.ts';
import { newId } from './ids.ts';
import type { Clock } from './clock.ts';
import { DEVICE_TYPE, TOKEN_STATUSES, type Actor, type Credential, type TokenStatus, type User } from './types.ts';
import { MAX_DEVICES_PER_USER } from '../contract/limits.ts';
import { IDENTIFIER } from '../contract/schemas.ts';
import { checkEmail, checkIdentifier, checkOptionalText, checkUserReference } from './values.ts';


export interface NewUser {
  id?: string;
  email: string;
  firstName?: string | null;
  lastName?: string | null;
  identitySource?: string | null;
}

export interface NewRegistration {
  /** A user id, or an e-mail address (anything with an `@`). */
  user: string;
  deviceSerialNumber: string;
  tokenSerialNumber?: string;
  tokenStatus?: TokenStatus;
  pinSet?: boolean;
  name?: string | null;
  id?: string;
  registeredDate?: string;
  updatedAt?: string;
}

export interface DirectoryServiceDeps {
  store: Store;
  clock: Clock;
}

/**
 * The user directory and DS100 registrations: how users and devices enter the store (from the
 * command line, an import file or the demo seed) and how an e-mail becomes a user id (spec 5).
 */
export function makeDirectoryService({ store, clock }: DirectoryServiceDeps) {
  async function resolveUser(tx: StoreTx, user: string): Promise<User> {
    const found = user.includes('@') ? await tx.userByEmail(user) : await tx.userById(user);
    if (!found) throw apiError('USER_NOT_FOUND', user);
    return found;
  }

  /**
   * The credential serial a DS100 gets when the registration names none: the vendor's pattern,
   * `0` + device serial + two digits, with the first two digits not yet taken from 31 upwards.
   */
  async function mintTokenSerial(tx: StoreTx, device: string): Promise<string> {
    if ([...device].length + 3 > IDENTIFIER.maxLength) {
      throw apiError('INVALID_PROPERTY', 'deviceSerialNumber', `must be at most ${IDENTIFIER.maxLength - 3} characters when no tokenSerialNumber is given`);
    }
    for (let n = 31; n < 131; n++) {
      const candidate = `0${device}${String(n % 100).padStart(2, '0')}`;
      if (!(await tx.credentialByTokenSerial(candidate))) return candidate;
    }
    throw apiError('TOKEN_SERIAL_EXISTS', `0${device}NN`);
  }

  /** A new user's values as they are stored: checked, trimmed, blanks as null. */
  function userValues(input: NewUser) {
    return {
      id: input.id === undefined ? undefined : checkIdentifier('userId', input.id),
      email: checkEmail('email', input.email),
      firstName: checkOptionalText('firstName', input.firstName),
      lastName: checkOptionalText('lastName', input.lastName),
      identitySource: checkOptionalText('identitySource', input.identitySource) ?? 'Internal Database',
    };
  }
  type UserValues = ReturnType<typeof userValues>;

  async function insertUser(tx: StoreTx, values: UserValues): Promise<User> {
    const now = clock.nowIso();
    const user: User = {
      id: values.id ?? newId(clock.now()),
      emailAddress: values.email,
      firstName: values.firstName,
      lastName: values.lastName,
      creationDate: now,
      identitySource: values.identitySource,
      userStatus: 'Enabled',
      markDeleted: false,
      markDeletedAt: null,
      markDeletedBy: null,
      lastSyncTime: null,
    };
    await tx.insertUser(user);
    return user;
  }

  async function addUserIn(tx: StoreTx, input: NewUser): Promise<User> {
    const values = userValues(input);
    if (values.id !== undefined && (await tx.userById(values.id))) throw apiError('USER_EXISTS', values.id);
    if (await tx.userByEmail(values.email)) throw apiError('USER_EXISTS', values.email);
    return insertUser(tx, values);
  }

  /**
   * An import's user: added, or already present with the same values (a re-run of a file). A
   * user with the same id or e-mail address and other values is refused, naming what differs.
   */
  async function importUserIn(tx: StoreTx, input: NewUser): Promise<ImportOutcome> {
    const values = userValues(input);
    const byId = values.id === undefined ? null : await tx.userById(values.id);
    const existing = byId ?? (await tx.userByEmail(values.email));
    if (!existing) {
      await insertUser(tx, values);
      return 'added';
    }
    const differs = firstDifference([
      ['id', values.id ?? existing.id, existing.id],
      ['emailAddress', values.email, existing.emailAddress],
      ['firstName', values.firstName, existing.firstName],
      ['lastName', values.lastName, existing.lastName],
      ['identitySource', values.identitySource, existing.identitySource],
    ]);
    if (differs) throw apiError('USER_DIFFERS', values.id ?? values.email, differs);
    // Found by id with the same address: the address is that user's, so no other user has it.
    return 'present';
  }

  /** A registration's values as they are stored: checked, trimmed, blanks as null. */
  function registrationValues(input: NewRegistration) {
    if (input.tokenStatus !== undefined && !TOKEN_STATUSES.includes(input.tokenStatus)) {
      throw apiError('INVALID_PROPERTY', 'tokenStatus', `must be ${TOKEN_STATUSES.join(' or ')}`);
    }
    return {
      user: checkUserReference('user', input.user),
      deviceSerialNumber: checkIdentifier('deviceSerialNumber', input.deviceSerialNumber),
      tokenSerialNumber: input.tokenSerialNumber === undefined ? undefined : checkIdentifier('tokenSerialNumber', input.tokenSerialNumber),
      name: checkOptionalText('name', input.name),
    };
  }
  type RegistrationValues = ReturnType<typeof registrationValues>;

  async function insertRegistration(tx: StoreTx, user: User, values: RegistrationValues, input: NewRegistration): Promise<Credential> {
    const device = values.deviceSerialNumber;
    // The user's lock first, so that two registrations for one user (on two instances) take turns.
    await tx.lockUser(user.id);
    const known = await tx.credentialsOfUserDevice(user.id, device);
    if (known.length === 0 && (await tx.deviceCountOfUser(user.id)) >= MAX_DEVICES_PER_USER) {
      throw apiError('TOO_MANY_DEVICES', user.id);
    }
    const tokenSerialNumber = values.tokenSerialNumber ?? (await mintTokenSerial(tx, device));
    if (await tx.credentialByTokenSerial(tokenSerialNumber)) throw apiError('TOKEN_SERIAL_EXISTS', tokenSerialNumber);
    const registered = input.registeredDate ?? clock.nowIso();
    const credential: Credential = {
      id: input.id ?? newId(clock.now()),
      name: values.name,
      userId: user.id,
      deviceType: DEVICE_TYPE,
      registeredDate: registered,
      tokenSerialNumber,
      updatedAt: input.updatedAt ?? registered,
      tokenState: 'Activated',
      expiryDate: null,
      tokenStatus: input.tokenStatus ?? 'Enabled',
      tokenStatusReason: null,
      assignedAt: registered,
      assignedBy: null,
      pinSet: input.pinSet ?? false,
      tokenStatusChangedAt: null,
      tokenStatusChangedBy: null,
      deviceSerialNumber: device,
    };
    await tx.insertCredential(credential);
    return credential;
  }

  async function registerIn(tx: StoreTx, input: NewRegistration): Promise<Credential> {
    const values = registrationValues(input);
    return insertRegistration(tx, await resolveUser(tx, values.user), values, input);
  }

  /**
   * An import's registration: added, or already present (a re-run of a file). It is present
   * when its credential serial is already this user's on this DS100 with this name or, without
   * a serial, when the user already has a credential on this DS100. The status is the initial
   * one, which the API may have changed since, so it is not compared.
   */
  async function importRegistrationIn(tx: StoreTx, input: NewRegistration): Promise<ImportOutcome> {
    const values = registrationValues(input);
    const user = await resolveUser(tx, values.user);
    const onDevice = values.tokenSerialNumber === undefined ? await tx.credentialsOfUserDevice(user.id, values.deviceSerialNumber) : [];
    const existing =
      values.tokenSerialNumber === undefined
        ? (onDevice.find((c) => c.name === values.name) ?? onDevice[0])
        : await tx.credentialByTokenSerial(values.tokenSerialNumber);
    if (!existing) {
      await insertRegistration(tx, user, values, input);
      return 'added';
    }
    const differs = firstDifference([
      ['userId', user.id, existing.userId],
      ['deviceSerialNumber', values.deviceSerialNumber, existing.deviceSerialNumber],
      ['name', values.name, existing.name],
    ]);
    if (differs) throw apiError('CREDENTIAL_DIFFERS', existing.tokenSerialNumber, differs);
    return 'present';
  }

  const audited = (actor: Actor, operation: string, target: Record<string, string>) => (tx: StoreTx) =>
    tx.appendAudit(auditEvent(actor, clock.nowIso(), operation, target, 'changed', 200));

  return {
    /** Spec 5: the user with this e-mail address, matched without regard to case. */
    async lookupUser(email: string): Promise<User> {
      const user = await store.userByEmail(email);
      if (!user) throw apiError('USER_NOT_FOUND', email);
      return user;
    },

    addUser: (actor: Actor, input: NewUser): Promise<User> =>
      store.transaction(async (tx) => {
        const user = await addUserIn(tx, input);
        await audited(actor, 'user.add', { userId: user.id, email: input.email })(tx);
        return user;
      }),

    register: (actor: Actor, input: NewRegistration): Promise<Credential> =>
      store.transaction(async (tx) => {
        const c = await registerIn(tx, input);
        await audited(actor, 'ds100.register', {
          userId: c.userId,
          deviceSerialNumber: c.deviceSerialNumber,
          tokenSerialNumber: c.tokenSerialNumber,
        })(tx);
        return c;
      }),

    /**
     * Adding users and registrations inside a transaction the caller holds, with the rules of
     * `addUser` and `register` and no audit event of their own: for a caller that commits many
     * records (and other changes) all or nothing, and audits them its own way (the emulator's seed).
     */
    within: (tx: StoreTx) => ({
      addUser: (input: NewUser): Promise<User> => addUserIn(tx, input),
      register: (input: NewRegistration): Promise<Credential> => registerIn(tx, input),
    }),

    /**
     * Adds many users (or registrations) in transactions of `batchSize` records, so that
     * memory stays flat whatever the size of the input. A record that breaks a rule or conflicts
     * with what is there is reported to `onFailure` and the import goes on; a record already
     * there with the same values is counted and skipped, so a file can be imported again to
     * finish an interrupted run. A failure of the store itself (a full disk) or of the input
     * stops the import with an `ImportStoppedError` that says what was committed before.
     */
    importUsers: (actor: Actor, records: ImportRecords<NewUser>, options?: ImportOptions) =>
      importInBatches(actor, 'user.import', records, importUserIn, options),
    importRegistrations: (actor: Actor, records: ImportRecords<NewRegistration>, options?: ImportOptions) =>
      importInBatches(actor, 'ds100.import', records, importRegistrationIn, options),
  };

  async function importInBatches<R>(
    actor: Actor,
    operation: string,
    records: ImportRecords<R>,
    importOne: (tx: StoreTx, input: R) => Promise<ImportOutcome>,
    { onFailure, onProgress, signal, batchSize = IMPORT_BATCH, maxTransactionMs = IMPORT_MAX_TRANSACTION_MS }: ImportOptions = {},
  ): Promise<ImportCounts> {
    const counts: ImportCounts = { committed: 0, alreadyPresent: 0, failed: 0 };
    let batch: Array<{ at: string; record: ImportRecord<R> }> = [];
    let numbered = 0;
    const commit = async (): Promise<void> => {
      const failures: Array<{ at: string; error: Error }> = [];
      try {
        const outcome = await store.transaction(async (tx) => {
          // PostgreSQL may run this again after a conflict with another writer: count afresh.
          failures.length = 0;
          const done = { added: 0, present: 0, taken: 0 };
          const started = performance.now();
          for (const { at, record } of batch) {
            // A server beside the import waits for its write lock: hand it back every so often.
            if (done.taken > 0 && performance.now() - started >= maxTransactionMs) break;
            done.taken++;
            if ('error' in record) {
              failures.push({ at, error: record.error });
              continue;
            }
            try {
              if ((await importOne(tx, record.input)) === 'added') done.added++;
              else done.present++;
            } catch (error) {
              if (!(error instanceof ApiError)) throw error;
              failures.push({ at, error });
            }
          }
          if (done.added > 0) await audited(actor, operation, { count: String(done.added) })(tx);
          return done;
        });
        counts.committed += outcome.added;
        counts.alreadyPresent += outcome.present;
        batch = batch.slice(outcome.taken);
      } finally {
        counts.failed += failures.length;
        for (const f of failures) onFailure?.(f.at, f.error);
      }
      onProgress?.({ ...counts });
    };
    try {
      for await (const record of records) {
        numbered++;
        batch.push({ at: record.at ?? `record ${numbered}`, record });
        if (signal?.aborted) throw new ImportInterruptedError();
        while (batch.length >= batchSize) await commit();
      }
      while (batch.length > 0) await commit();
    } catch (error) {
      throw new ImportStoppedError({ ...counts }, batch[0]?.at, error);
    }
    return counts;
  }
}

/** Records an import transaction holds at most. */
export const IMPORT_BATCH = 5000;
/**
 * How long an import transaction goes on adding records (it always adds one): on SQLite it holds
 * the database's one write lock, and a server beside it waits that long to commit a change.
 */
export const IMPORT_MAX_TRANSACTION_MS = 100;

type ImportOutcome = 'added' | 'present';

/**
 * One record of an import: what to add, or why it could not be read. `at` names it for the
 * operator (`users.csv:12`); without it, a record is named by its number.
 */
export type ImportRecord<R> = { at?: string; input: R } | { at: string; error: Error };
export type ImportRecords<R> = AsyncIterable<ImportRecord<R>> | Iterable<ImportRecord<R>>;

export interface ImportCounts {
  /** Records added by this run. */
  committed: number;
  /** Records skipped because the directory already had them, with the same values. */
  alreadyPresent: number;
  /** Records refused (reported to `onFailure`). */
  failed: number;
}

export interface ImportOptions {
  onFailure?: (at: string, error: Error) => void;
  /** After each committed batch. */
  onProgress?: (counts: ImportCounts) => void;
  /** Once aborted, the import stops at the next record; the batch it was filling is not committed. */
  signal?: AbortSignal;
  /** Records per transaction (default `IMPORT_BATCH`). */
  batchSize?: number;
  /** A transaction stops taking records after this long (default `IMPORT_MAX_TRANSACTION_MS`). */
  maxTransactionMs?: number;
}

/** The import was asked to stop (Ctrl-C). */
export class ImportInterruptedError extends Error {
  constructor() {
    super('interrupted');
  }
}

/**
 * An import stopped before its end: `counts` were committed (or failed) before, and nothing from
 * `resumeAt` on was committed. Running the same input again finishes it.
 */
export class ImportStoppedError extends Error {
  constructor(
    readonly counts: ImportCounts,
    readonly resumeAt: string | undefined,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

export type DirectoryService = ReturnType<typeof makeDirectoryService>;

/** The name of the first property whose new value is not the stored one. */
function firstDifference(pairs: Array<[string, string | null, string | null]>): string | undefined {
  return pairs.find(([, given, stored]) => given !== stored)?.[0];
}
