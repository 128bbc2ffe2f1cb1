import type {
  Admin, AdminInvite, ApiKey, AuditEvent, AuditOutcome, ConsoleSession, Credential, OAuthClient, Passkey, SigningKey, StoredAuditEvent, TokenStatus,
  User,
} from './types.ts';

/**
 * What the domain needs of persistence, declared here, by the domain: SQLite (`store/sqlite`) and
 * PostgreSQL (`store/postgres`) implement it and carry no policy. Every rule (who may do what,
 * the five-device and ten-key limits, what a change audits) is the domain's; the engines only
 * store, read and lock as they are told.
 *
 * Reads that every engine answers the same way. Outside a transaction they see committed data
 * only; inside one (`StoreTx`) they see the transaction's own writes. No read locks anything:
 * a transaction that decides on what it read takes the lock it needs first (`lockUser`,
 * `lockKeys`), so that instances sharing one database take turns.
 */
export interface StoreReader {
  userById(id: string): Promise<User | null>;
  /** Case-insensitive. */
  userByEmail(email: string): Promise<User | null>;
  credentialsByDevice(deviceSerialNumber: string): Promise<Credential[]>;
  credentialsOfUserDevice(userId: string, deviceSerialNumber: string): Promise<Credential[]>;
  credentialByTokenSerial(tokenSerialNumber: string): Promise<Credential | null>;
  /** How many distinct DS100 devices are registered to the user. */
  deviceCountOfUser(userId: string): Promise<number>;
  apiKey(accessId: string): Promise<ApiKey | null>;
  apiKeys(): Promise<ApiKey[]>;
  /** A setting the server runs with (`SETTINGS`), or null when none was kept. */
  setting(name: SettingName): Promise<string | null>;
  /** Asked on every request an access token makes: engines may cache it as they cache `apiKey`. */
  oauthClient(clientId: string): Promise<OAuthClient | null>;
  oauthClients(): Promise<OAuthClient[]>;
  signingKey(kid: string): Promise<SigningKey | null>;
  /** Every signing key kept, newest first. */
  signingKeys(): Promise<SigningKey[]>;
  /** Users whose lower-cased e-mail address starts with `prefix` (lower case), by address, at most `limit`. */
  usersByEmailPrefix(prefix: string, limit: number): Promise<User[]>;
  /** Every OTP credential of the user, by device then serial. */
  credentialsOfUser(userId: string): Promise<Credential[]>;
  adminById(id: string): Promise<Admin | null>;
  /** Case-insensitive. */
  adminByEmail(email: string): Promise<Admin | null>;
  /** Every administrator, by e-mail address. */
  admins(): Promise<Admin[]>;
  adminInvite(tokenHash: string): Promise<AdminInvite | null>;
  passkey(credentialId: string): Promise<Passkey | null>;
  passkeysOfAdmin(adminId: string): Promise<Passkey[]>;
  consoleSession(idHash: string): Promise<ConsoleSession | null>;
}

/**
 * Settings kept in the store so that every command and instance agrees on them: `publicUrl` is
 * the URL the server last ran with, which `keys create` writes into key files by default.
 */
export type SettingName = 'publicUrl';

export interface StatusChange {
  tokenStatus: TokenStatus;
  changedAt: string;
  changedBy: string;
}

export interface StoreTx extends StoreReader {
  /**
   * Holds the user's lock until the transaction ends: every change to a user's credentials takes
   * it first, so that two instances changing one user's DS100s (enable against disable, a sixth
   * registration against a fifth) take turns, and each reads what the other committed.
   */
  lockUser(userId: string): Promise<void>;
  /** Holds the lock of the key list until the transaction ends: for the ten-key rule. */
  lockKeys(): Promise<void>;
  insertUser(user: User): Promise<void>;
  insertCredential(credential: Credential): Promise<void>;
  setCredentialStatus(credentialId: string, change: StatusChange): Promise<void>;
  clearCredentialPin(credentialId: string, updatedAt: string): Promise<void>;
  deleteCredential(credentialId: string): Promise<void>;
  insertApiKey(key: ApiKey): Promise<void>;
  deleteApiKey(accessId: string): Promise<boolean>;
  /**
   * The event is written when the transaction commits, stamped and numbered then (see
   * `sealAudit`): its `loggedAt` is the commit's, not the call's.
   */
  /** Holds the lock of the signing keys until the transaction ends: one rotation at a time. */
  lockSigningKeys(): Promise<void>;
  insertOAuthClient(client: OAuthClient): Promise<void>;
  deleteOAuthClient(clientId: string): Promise<boolean>;
  insertSigningKey(key: SigningKey): Promise<void>;
  retireSigningKey(kid: string, retiredAt: string, notAfter: string): Promise<void>;
  /** Removes the signing keys whose `notAfter` is before `now`. */
  deleteSigningKeysBefore(now: string): Promise<void>;
  /**
   * Records that the assertion `jti` of `clientId` was used, until `expiresAt`; false when it was
   * already (a replay). The database's unique constraint decides, so instances agree.
   */
  useJti(clientId: string, jti: string, expiresAt: string): Promise<boolean>;
  /** Forgets the used `jti`s that expired before `now`. */
  pruneJtis(now: string): Promise<void>;
  appendAudit(event: AuditEvent): Promise<void>;
  putSetting(name: SettingName, value: string): Promise<void>;
  /**
   * Contract 11, the reader's half of the rule that no event appears later inside a window
   * already read: waits until every event stamped at or before `end` is committed, and makes
   * every event committed after this transaction stamped later than `end`.
   */
  sealAudit(end: string): Promise<void>;
  /** Deletes at most `limit` of the oldest events of calls made before `time` (and stamped); how many it deleted. */
  deleteAuditBefore(time: string, limit: number): Promise<number>;
  insertAdmin(admin: Admin): Promise<void>;
  /** Sets the role and the enrolment and revocation times of an administrator. */
  updateAdmin(admin: Admin): Promise<void>;
  insertAdminInvite(invite: AdminInvite): Promise<void>;
  /** Marks the invite used if it is unused and not expired at `now`; false otherwise. */
  useAdminInvite(tokenHash: string, now: string): Promise<boolean>;
  deleteAdminInvites(adminId: string): Promise<void>;
  insertPasskey(passkey: Passkey): Promise<void>;
  /** Records a sign-in with the passkey: its new counter and when. */
  usePasskey(credentialId: string, counter: number, at: string): Promise<void>;
  deletePasskeysOfAdmin(adminId: string): Promise<void>;
  insertConsoleSession(session: ConsoleSession): Promise<void>;
  touchConsoleSession(idHash: string, at: string): Promise<void>;
  /** False when there was no such session. */
  deleteConsoleSession(idHash: string): Promise<boolean>;
  deleteConsoleSessionsOfAdmin(adminId: string): Promise<void>;
  /** Removes sessions last seen before `idleBefore` or begun before `begunBefore`. */
  deleteStaleConsoleSessions(idleBefore: string, begunBefore: string): Promise<void>;
  /** Stores a WebAuthn challenge until `expiresAt`, and removes those expired at `now`. */
  insertChallenge(challenge: string, purpose: string, now: string, expiresAt: string): Promise<void>;
  /** Removes the challenge and says whether it was there for `purpose`, unexpired at `now`. */
  takeChallenge(challenge: string, purpose: string, now: string): Promise<boolean>;
}

/** The two event logs of contract 11, each a view of the trail with its own numbering. */
export type AuditLog = 'admin' | 'user';

/** An event as one log shows it, with its place in that log. */
export interface LoggedAuditEvent extends StoredAuditEvent {
  position: number;
}

/**
 * The event logs' reads. Each log numbers its events 1, 2, 3, ... in the order of their
 * `loggedAt` (no gap: numbers are given at commit, under the sequencer; pruning removes the
 * oldest), so a window of time is a range of numbers and any page of it is found by the index,
 * however deep.
 */
export interface AuditLogReader {
  /**
   * The number of the last event of `log` logged at or before `time`; when none is, the number
   * before the first event logged after it; null when the log is empty.
   */
  auditLogPosition(log: AuditLog, time: string): Promise<number | null>;
  /** The events of `log` numbered after `after` up to `upTo`, in order. */
  auditLogPage(log: AuditLog, after: number, upTo: number): Promise<LoggedAuditEvent[]>;
}

/**
 * Which events of the trail a search selects: every condition given holds. The domain turns a
 * person's filter into it (`domain/trail.ts`); the engines run it as one SQL statement
 * (`store/sql.ts`, `searchAuditSql`).
 */
export interface AuditFilter {
  /** Only the events of the admin log (contract 11): the exports' own events are left out. */
  adminLog?: boolean;
  /** The subject who acted: an administrator's id, an API key's access id, `cli:<name>`. */
  subject?: string;
  /**
   * Events whose target names one of these users: its `userId`, or its `email` when it has no
   * `userId` (compared without regard to ASCII case; the store keeps the one it compares, see
   * `targetUser` in store/sql.ts). Both lists empty: no event.
   */
  user?: { ids: readonly string[]; emails: readonly string[] };
  /** One activity of the admin log: its operation, and the outcomes its key stands for. */
  activity?: { operation: string; outcomes: readonly AuditOutcome[] };
  /** Bounds of `at`, the time of the call, inclusive (ISO 8601 UTC with milliseconds). */
  from?: string;
  to?: string;
}

/** A search of the trail: a filter, a keyset position, an order and a size. */
export interface AuditSearch extends AuditFilter {
  /** Only events after (or before) this `seq`. */
  afterSeq?: number;
  beforeSeq?: number;
  /** `oldest` first (by `seq`) or `newest` first. */
  order: 'oldest' | 'newest';
  limit: number;
}

export interface AuditQuery {
  since?: string;
  limit?: number;
  /** Most events in one page of `auditPages` (default AUDIT_PAGE_SIZE). */
  pageSize?: number;
}

export const AUDIT_PAGE_SIZE = 1000;

/** One page of the trail: events after `afterSeq`, at or after `since`, in `seq` order, at most `size`. */
export type AuditPageReader = (afterSeq: number, since: string, size: number) => Promise<StoredAuditEvent[]>;

/**
 * The trail in pages, read one at a time as the consumer asks for them: each page is a query of
 * its own that starts after the last `seq` seen (keyset), so memory holds one page whatever the
 * length of the trail, and no read transaction stays open while the consumer writes it out.
 */
export async function* auditPagesOf(readPage: AuditPageReader, query: AuditQuery = {}): AsyncGenerator<StoredAuditEvent[]> {
  const pageSize = query.pageSize ?? AUDIT_PAGE_SIZE;
  let left = query.limit ?? Infinity;
  let afterSeq = 0;
  while (left > 0) {
    const size = Math.min(pageSize, left);
    const page = await readPage(afterSeq, query.since ?? '', size);
    if (page.length > 0) yield page;
    if (page.length < size) return;
    left -= page.length;
    afterSeq = page[page.length - 1]!.seq;
  }
}

/** The whole of `pages` in one array. */
export async function allAuditEvents(pages: AsyncIterable<StoredAuditEvent[]>): Promise<StoredAuditEvent[]> {
  const events: StoredAuditEvent[] = [];
  for await (const page of pages) events.push(...page);
  return events;
}

/** What an engine reports of itself for `/metrics`. */
export interface StoreStats {
  /** Audit events of `recordAudit` not yet written. */
  auditPending: number;
  /** A connection pool's state, for engines that have one. */
  pool?: { total: number; idle: number; waiting: number; max: number };
}

/** The store: reads, transactions and the audit trail, whatever the engine. */
export interface Store extends StoreReader, AuditLogReader {
  readonly engine: 'sqlite' | 'postgres';
  /**
   * Runs `work` in one transaction: its writes and its audit events commit together or not at
   * all, and the promise settles only once the commit is durable. A thrown error rolls back.
   */
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * `StoreTx.sealAudit` in a transaction of its own, which commits nothing a caller needs to
   * survive a crash (SQLite spares it the fsync).
   */
  sealAudit(end: string): Promise<void>;
  /**
   * Records an audit event for a call that changed nothing. It is written with the next commit
   * and not awaited: a read is answered without waiting for a disk flush.
   */
  recordAudit(event: AuditEvent): void;
  /** Waits until every event given to `recordAudit` so far is committed. */
  flush(): Promise<void>;
  /**
   * The events `search` selects, in its order, at most its `limit`: the one query of the trail,
   * which the console's activity page, `ds100-admin audit` and `auditPages` all read through.
   */
  searchAudit(search: AuditSearch): Promise<StoredAuditEvent[]>;
  /** The trail, oldest first, a page at a time (see `auditPagesOf`). */
  auditPages(query?: AuditQuery): AsyncIterable<StoredAuditEvent[]>;
  /** The trail, oldest first, all in one array: for short trails (tests); `auditPages` for the rest. */
  audit(query?: AuditQuery): Promise<StoredAuditEvent[]>;
  /** Throws when the database cannot answer; for readiness checks. */
  ping(): Promise<void>;
  stats(): StoreStats;
  close(): Promise<void>;
}
