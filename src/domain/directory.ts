import { apiError } from '../errors.ts';
import type { Store, StoreTx } from '../store/store.ts';
import { auditEvent } from './audit.ts';
import { newId } from './ids.ts';
import type { Clock } from './clock.ts';
import { DEVICE_TYPE, type Actor, type Credential, type TokenStatus, type User } from './types.ts';

/** A user hardware authenticators per user, as the vendor documents. */
export const MAX_DEVICES_PER_USER = 5;

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
    for (let n = 31; n < 131; n++) {
      const candidate = `0${device}${String(n % 100).padStart(2, '0')}`;
      if (!(await tx.credentialByTokenSerial(candidate))) return candidate;
    }
    throw apiError('TOKEN_SERIAL_EXISTS', `0${device}NN`);
  }

  async function addUserIn(tx: StoreTx, input: NewUser): Promise<User> {
    const now = clock.nowIso();
    const user: User = {
      id: input.id ?? newId(clock.now()),
      emailAddress: input.email,
      firstName: input.firstName ?? null,
      lastName: input.lastName ?? null,
      creationDate: now,
      identitySource: input.identitySource ?? 'Internal Database',
      userStatus: 'Enabled',
      markDeleted: false,
      markDeletedAt: null,
      markDeletedBy: null,
      lastSyncTime: null,
    };
    if (await tx.userById(user.id)) throw apiError('USER_EXISTS', user.id);
    if (await tx.userByEmail(input.email)) throw apiError('USER_EXISTS', input.email);
    await tx.insertUser(user);
    return user;
  }

  async function registerIn(tx: StoreTx, input: NewRegistration): Promise<Credential> {
    const user = await resolveUser(tx, input.user);
    const device = input.deviceSerialNumber;
    const known = await tx.credentialsOfUserDevice(user.id, device);
    if (known.length === 0 && (await tx.deviceCountOfUser(user.id)) >= MAX_DEVICES_PER_USER) {
      throw apiError('TOO_MANY_DEVICES', user.id);
    }
    const tokenSerialNumber = input.tokenSerialNumber ?? (await mintTokenSerial(tx, device));
    if (await tx.credentialByTokenSerial(tokenSerialNumber)) throw apiError('TOKEN_SERIAL_EXISTS', tokenSerialNumber);
    const registered = input.registeredDate ?? clock.nowIso();
    const credential: Credential = {
      id: input.id ?? newId(clock.now()),
      name: input.name ?? null,
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
     * Adds many users (or registrations) in transactions of `batchSize` rows, so that memory
     * stays flat whatever the size of the input. A row that breaks a rule fails the import at
     * that row, naming it; the batches before it are kept, and the error says how many.
     */
    async importUsers(actor: Actor, rows: AsyncIterable<NewUser> | Iterable<NewUser>, onProgress?: (n: number) => void) {
      return importInBatches(actor, 'user.import', rows, addUserIn, onProgress);
    },
    async importRegistrations(
      actor: Actor,
      rows: AsyncIterable<NewRegistration> | Iterable<NewRegistration>,
      onProgress?: (n: number) => void,
    ) {
      return importInBatches(actor, 'ds100.import', rows, registerIn, onProgress);
    },
  };

  async function importInBatches<R>(
    actor: Actor,
    operation: string,
    rows: AsyncIterable<R> | Iterable<R>,
    add: (tx: StoreTx, row: R) => Promise<unknown>,
    onProgress?: (n: number) => void,
  ): Promise<number> {
    const batchSize = 5000;
    let batch: R[] = [];
    let done = 0;
    const commit = async (): Promise<void> => {
      const rowsOfBatch = batch;
      batch = [];
      await store.transaction(async (tx) => {
        for (const [i, row] of rowsOfBatch.entries()) {
          try {
            await add(tx, row);
          } catch (error) {
            throw new ImportRowError(done + i + 1, done, error);
          }
        }
        await audited(actor, operation, { count: String(rowsOfBatch.length) })(tx);
      });
      done += rowsOfBatch.length;
      onProgress?.(done);
    };
    for await (const row of rows) {
      batch.push(row);
      if (batch.length >= batchSize) await commit();
    }
    if (batch.length > 0) await commit();
    return done;
  }
}

/** An import stopped at one row; `imported` rows before it were committed. */
export class ImportRowError extends Error {
  constructor(
    readonly row: number,
    readonly imported: number,
    override readonly cause: unknown,
  ) {
    super(`row ${row}: ${cause instanceof Error ? cause.message : String(cause)} (${imported} rows imported before it)`);
  }
}

export type DirectoryService = ReturnType<typeof makeDirectoryService>;
