import type { StoreReader, StoreTx } from '../domain/store.ts';
import {
  ADMIN_COLUMNS, ADMIN_INVITE_COLUMNS, API_KEY_COLUMNS, AUDIT_COLUMNS, CONSOLE_SESSION_COLUMNS, CREDENTIAL_COLUMNS, OAUTH_CLIENT_COLUMNS,
  PASSKEY_COLUMNS, SIGNING_KEY_COLUMNS, USER_COLUMNS, adminInviteValues, adminValues, apiKeyValues, consoleSessionValues,
  credentialValues, oauthClientValues, pushAuditValues, passkeyValues, signingKeyValues, toAdmin, toAdminInvite, toApiKey, toAuditEvent, toConsoleSession,
  toCredential, toOAuthClient, toPasskey, toSigningKey, toUser, userValues, type Cells,
} from './rows.ts';
import { EXPORT_OPERATIONS, inAdminLog, inUserLog } from '../domain/activity.ts';
import { OAUTH_SUBJECT_PREFIX } from '../domain/audit.ts';
import type { AuditLog, AuditLogReader, AuditSearch } from '../domain/store.ts';
import type { AuditEvent, StoredAuditEvent } from '../domain/types.ts';

/**
 * The SQL both engines run, written once with `?` placeholders (PostgreSQL's connection numbers
 * them, `numbered`), over the same tables and columns (see the two migration lists). What truly
 * differs between the engines (locks, retries, connections, group commit) stays in each engine.
 */

/** What an engine gives the shared SQL: one statement with its values, on one connection. */
export interface SqlConnection {
  /** The rows, each an array of cells in the order of the statement's columns. */
  rows(sql: string, values: unknown[]): Promise<Cells[]>;
  /** How many rows the statement changed. */
  run(sql: string, values: unknown[]): Promise<number>;
}

const place = (n: number): string => Array(n).fill('?').join(', ');
const AUDIT_INSERT_COLUMNS = 'at, subject, role, client_address, request_id, operation, target, outcome, status, logged_at, admin_position, user_position, target_user';
const AUDIT_INSERT_WIDTH = 13;

export const SQL = {
  userById: `SELECT ${USER_COLUMNS} FROM users WHERE id = ?`,
  userByEmail: `SELECT ${USER_COLUMNS} FROM users WHERE email_lower = ?`,
  credentialsByDevice: `SELECT ${CREDENTIAL_COLUMNS} FROM credentials WHERE device_serial = ? ORDER BY registered_date, token_serial`,
  credentialsOfUserDevice: `SELECT ${CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = ? AND device_serial = ? ORDER BY registered_date, token_serial`,
  credentialByTokenSerial: `SELECT ${CREDENTIAL_COLUMNS} FROM credentials WHERE token_serial = ?`,
  deviceCountOfUser: 'SELECT COUNT(DISTINCT device_serial) FROM credentials WHERE user_id = ?',
  apiKey: `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE access_id = ?`,
  apiKeys: `SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, access_id`,
  insertUser: `INSERT INTO users (id, email, email_lower, first_name, last_name, creation_date, identity_source, user_status, mark_deleted, mark_deleted_at, mark_deleted_by, last_sync_time) VALUES (${place(12)})`,
  insertCredential: `INSERT INTO credentials (${CREDENTIAL_COLUMNS}) VALUES (${place(17)})`,
  setCredentialStatus: 'UPDATE credentials SET token_status = ?, token_status_changed_at = ?, token_status_changed_by = ?, updated_at = ? WHERE id = ?',
  clearCredentialPin: 'UPDATE credentials SET pin_set = ?, updated_at = ? WHERE id = ?',
  deleteCredential: 'DELETE FROM credentials WHERE id = ?',
  insertApiKey: `INSERT INTO api_keys (${API_KEY_COLUMNS}) VALUES (${place(5)})`,
  deleteApiKey: 'DELETE FROM api_keys WHERE access_id = ?',
  oauthClient: `SELECT ${OAUTH_CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = ?`,
  oauthClients: `SELECT ${OAUTH_CLIENT_COLUMNS} FROM oauth_clients ORDER BY created_at, client_id`,
  insertOAuthClient: `INSERT INTO oauth_clients (${OAUTH_CLIENT_COLUMNS}) VALUES (${place(7)})`,
  deleteOAuthClient: 'DELETE FROM oauth_clients WHERE client_id = ?',
  signingKey: `SELECT ${SIGNING_KEY_COLUMNS} FROM signing_keys WHERE kid = ?`,
  signingKeys: `SELECT ${SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY created_at DESC, kid`,
  insertSigningKey: `INSERT INTO signing_keys (${SIGNING_KEY_COLUMNS}) VALUES (${place(6)})`,
  retireSigningKey: 'UPDATE signing_keys SET retired_at = ?, not_after = ? WHERE kid = ? AND retired_at IS NULL',
  deleteSigningKeysBefore: 'DELETE FROM signing_keys WHERE not_after IS NOT NULL AND not_after < ?',
  // The primary key (client_id, jti) is what makes an assertion single-use on every instance.
  useJti: 'INSERT INTO used_jtis (client_id, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  pruneJtis: 'DELETE FROM used_jtis WHERE expires_at < ?',
  // A range, not LIKE: the index on email_lower serves it, and both engines compare bytes.
  usersByEmailPrefix: `SELECT ${USER_COLUMNS} FROM users WHERE email_lower >= ? AND email_lower < ? ORDER BY email_lower LIMIT ?`,
  credentialsOfUser: `SELECT ${CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = ? ORDER BY device_serial, token_serial`,
  adminById: `SELECT ${ADMIN_COLUMNS} FROM admins WHERE id = ?`,
  adminByEmail: `SELECT ${ADMIN_COLUMNS} FROM admins WHERE email_lower = ?`,
  admins: `SELECT ${ADMIN_COLUMNS} FROM admins ORDER BY email_lower`,
  adminInvite: `SELECT ${ADMIN_INVITE_COLUMNS} FROM admin_invites WHERE token_hash = ?`,
  passkey: `SELECT ${PASSKEY_COLUMNS} FROM admin_passkeys WHERE credential_id = ?`,
  passkeysOfAdmin: `SELECT ${PASSKEY_COLUMNS} FROM admin_passkeys WHERE admin_id = ? ORDER BY created_at, credential_id`,
  consoleSession: `SELECT ${CONSOLE_SESSION_COLUMNS} FROM console_sessions WHERE id_hash = ?`,
  insertAdmin: `INSERT INTO admins (id, email, email_lower, role, created_at, created_by, enrolled_at, revoked_at) VALUES (${place(8)})`,
  updateAdmin: 'UPDATE admins SET role = ?, enrolled_at = ?, revoked_at = ? WHERE id = ?',
  insertAdminInvite: `INSERT INTO admin_invites (${ADMIN_INVITE_COLUMNS}) VALUES (${place(5)})`,
  useAdminInvite: 'UPDATE admin_invites SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?',
  deleteAdminInvites: 'DELETE FROM admin_invites WHERE admin_id = ?',
  insertPasskey: `INSERT INTO admin_passkeys (${PASSKEY_COLUMNS}) VALUES (${place(7)})`,
  usePasskey: 'UPDATE admin_passkeys SET counter = ?, last_used_at = ? WHERE credential_id = ?',
  deletePasskeysOfAdmin: 'DELETE FROM admin_passkeys WHERE admin_id = ?',
  insertConsoleSession: `INSERT INTO console_sessions (${CONSOLE_SESSION_COLUMNS}) VALUES (${place(4)})`,
  touchConsoleSession: 'UPDATE console_sessions SET last_seen_at = ? WHERE id_hash = ?',
  deleteConsoleSession: 'DELETE FROM console_sessions WHERE id_hash = ?',
  deleteConsoleSessionsOfAdmin: 'DELETE FROM console_sessions WHERE admin_id = ?',
  deleteStaleConsoleSessions: 'DELETE FROM console_sessions WHERE last_seen_at < ? OR created_at < ?',
  insertChallenge: 'INSERT INTO webauthn_challenges (challenge, purpose, expires_at) VALUES (?, ?, ?)',
  deleteExpiredChallenges: 'DELETE FROM webauthn_challenges WHERE expires_at <= ?',
  takeChallenge: 'DELETE FROM webauthn_challenges WHERE challenge = ? AND purpose = ? AND expires_at > ?',
  setting: 'SELECT value FROM settings WHERE name = ?',
  putSetting: 'INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
  ping: 'SELECT 1',
  /**
   * The one sequencer of the trail: a commit that writes events takes its row (and keeps it until
   * COMMIT), stamps them no earlier than the last stamp, and numbers them on in each log.
   */
  advanceAuditSequence:
    'UPDATE audit_sequence SET logged_at = CASE WHEN logged_at < ? THEN ? ELSE logged_at END, ' +
    'admin_position = admin_position + ?, user_position = user_position + ? WHERE id = 1 RETURNING logged_at, admin_position, user_position',
  /** The last stamp given, committed: a window ending before it is sealed already (see `sealedAfter`). */
  auditSequenceStamp: 'SELECT logged_at FROM audit_sequence WHERE id = 1',
  /** A reader's seal: every stamp given from now on is later than `?` (the second value). */
  sealAudit: 'UPDATE audit_sequence SET logged_at = ? WHERE id = 1 AND logged_at <= ?',
  /** The sequencer's row, taken before the unstamped events are read (`stampAuditEvents`). */
  lockAuditSequence: 'SELECT logged_at FROM audit_sequence WHERE id = 1 FOR UPDATE',
  unstampedAudit: `SELECT seq, operation, target FROM audit_events WHERE logged_at = '' ORDER BY seq LIMIT ?`,
  /**
   * Oldest first by the call's time, never later than the stamp, through its index. Unstamped
   * events are not yet in a log: they are never pruned.
   */
  pruneAudit: "DELETE FROM audit_events WHERE seq IN (SELECT seq FROM audit_events WHERE at < ? AND logged_at <> '' ORDER BY at LIMIT ?)",
} as const;

/**
 * A log's reads, by the column that numbers its events (its only index: unique, on the events the
 * log carries). Positions rise with logged_at (a stamp is never earlier than the last), so the last
 * position stamped at or before a time is found by bisection over that index, in one statement:
 * each step reads the first event at or above the middle position, so a gap (pruned events) does
 * not mislead it, and about 20 steps cover a million events. An index on the stamp would find it
 * in one step, at the price of one more index entry for every call the server answers: the toggle
 * benchmark lost a tenth of its rate to the two that did it (issue 11).
 */
const logSql = Object.fromEntries(
  (['admin', 'user'] as const).map((log) => {
    const p = `${log}_position`;
    const atMiddle = (column: string) => `(SELECT ${column} FROM audit_events WHERE ${p} >= (lo + hi) / 2 ORDER BY ${p} LIMIT 1)`;
    const fits = `${atMiddle('logged_at')} <= ?`;
    return [
      log,
      {
        // (lo, hi): the positions still to search; best: the last found stamped at or before the time.
        positionAtOrBefore:
          `WITH RECURSIVE probe (lo, hi, best) AS (` +
          `SELECT first, last, first - 1 FROM (SELECT (SELECT ${p} FROM audit_events WHERE ${p} IS NOT NULL ORDER BY ${p} LIMIT 1) AS first, ` +
          `(SELECT ${p} FROM audit_events WHERE ${p} IS NOT NULL ORDER BY ${p} DESC LIMIT 1) AS last) AS bounds ` +
          `UNION ALL SELECT CASE WHEN ${fits} THEN ${atMiddle(p)} + 1 ELSE lo END, CASE WHEN ${fits} THEN hi ELSE (lo + hi) / 2 - 1 END, ` +
          `CASE WHEN ${fits} THEN ${atMiddle(p)} ELSE best END FROM probe WHERE lo <= hi) ` +
          `SELECT best FROM probe WHERE lo > hi`,
        page: `SELECT ${AUDIT_COLUMNS}, ${p} FROM audit_events WHERE ${p} > ? AND ${p} <= ? ORDER BY ${p}`,
      },
    ];
  }),
) as Record<AuditLog, { positionAtOrBefore: string; page: string }>;

/** The INSERT of `count` audit rows, one text per count (`pushAuditValues` gives each row's first nine values). */
const insertAuditRows = (count: number): string =>
  `INSERT INTO audit_events (${AUDIT_INSERT_COLUMNS}) VALUES ${Array(count).fill(`(${place(AUDIT_INSERT_WIDTH)})`).join(', ')}`;

/**
 * The sizes of multi-row audit INSERTs, largest first (13 values a row: below both engines' limit
 * on parameters). A commit's events go in as few of them as fit, so that only these five
 * statements are ever prepared: one statement per batch size made SQLite prepare a new one for
 * most commits, a tenth of the audit trail's cost per lookup in the benchmark.
 */
const AUDIT_INSERT_SIZES = [500, 100, 20, 5, 1] as const;
const AUDIT_INSERTS = new Map(AUDIT_INSERT_SIZES.map((n) => [n, insertAuditRows(n)]));

/** The `logged_at` of an event written but not stamped yet (`writeUnstampedAuditEvents`): in no log, and never pruned. */
export const UNSTAMPED = '';

/** Where a commit's events stand in time and in each log: the stamp, and the positions given before theirs. */
interface AuditStamp {
  loggedAt: string;
  admin: number;
  user: number;
}

/** Inserts `events`, stamped, or without `stamp` unstamped: logged_at UNSTAMPED and no positions. */
async function insertAuditEvents(db: SqlConnection, events: readonly AuditEvent[], stamp?: AuditStamp): Promise<void> {
  let admin = stamp?.admin ?? 0;
  let user = stamp?.user ?? 0;
  let i = 0;
  for (const size of AUDIT_INSERT_SIZES) {
    for (; events.length - i >= size; i += size) {
      const values: unknown[] = [];
      for (let j = i; j < i + size; j++) {
        const e = events[j]!;
        const inAdmin = stamp !== undefined && inAdminLog(e);
        const inUser = stamp !== undefined && inUserLog(e);
        pushAuditValues(values, e);
        values.push(stamp?.loggedAt ?? UNSTAMPED, inAdmin ? ++admin : null, inUser ? ++user : null, targetUser(e.target));
      }
      await db.run(AUDIT_INSERTS.get(size)!, values);
    }
  }
}

/**
 * Takes the sequencer's row (it is held to COMMIT) for `admins` and `users` events: their stamp,
 * the later of `now` and the last stamp, and the positions each log gave before them.
 */
async function advanceAuditSequence(db: SqlConnection, now: string, admins: number, users: number): Promise<AuditStamp> {
  const [row] = await db.rows(SQL.advanceAuditSequence, [now, now, admins, users]);
  if (!row) throw new Error('audit_sequence has no row: the store was not migrated');
  return { loggedAt: String(row[0]), admin: Number(row[1]) - admins, user: Number(row[2]) - users };
}

/**
 * Writes `events` as one commit's events: takes the sequencer's row, stamps them all with the
 * later of `now` and the last stamp, numbers those each log carries after its last, and inserts
 * them. Called last in a transaction, just before COMMIT: the sequencer's row is held from the
 * stamp to the commit and taken after every other lock, so readers that take it in turn
 * (`sealAudit`) never miss an event stamped inside a window they read. SQLite's group commit
 * does this once for many calls; PostgreSQL, whose calls commit each on its own, writes them
 * unstamped instead and stamps them after (`stampAuditEvents`).
 */
export async function writeAuditEvents(db: SqlConnection, events: readonly AuditEvent[], now: string): Promise<void> {
  if (events.length === 0) return;
  const { admins, users } = countByLog(events);
  const stamp = await advanceAuditSequence(db, now, admins, users);
  await insertAuditEvents(db, events, stamp);
}

/** How many of `events` each log carries (one pass: a commit counts its events before it stamps them). */
function countByLog(events: ReadonlyArray<Pick<AuditEvent, 'operation' | 'target'>>): { admins: number; users: number } {
  let admins = 0;
  let users = 0;
  for (const e of events) {
    if (inAdminLog(e)) admins++;
    if (inUserLog(e)) users++;
  }
  return { admins, users };
}

/**
 * Writes `events` with their call's change, unstamped: the transaction takes no shared lock, so
 * concurrent calls commit side by side (the sequencer's row held to each COMMIT had PostgreSQL
 * commit them one at a time). They are durable with the change, in the trail (`audit`), and in
 * no log until `stampAuditEvents` gives them their stamp and positions.
 */
export const writeUnstampedAuditEvents = (db: SqlConnection, events: readonly AuditEvent[]): Promise<void> =>
  events.length === 0 ? Promise.resolve() : insertAuditEvents(db, events);

/** Unstamped events stamped by one statement of `stampAuditEvents`, at most. */
const STAMP_BATCH = 5000;

/**
 * Inside a transaction: takes the sequencer's row first, then stamps every committed unstamped
 * event, oldest first, as one commit's events are stamped (`writeAuditEvents`): one stamp, the
 * later of `now` and the last, positions in the order of `seq`. An event is stamped only after
 * its call committed, by whoever holds the row, so its stamp is later than any window a reader
 * sealed before (contract 11). `setStamps` writes the stamps (its statement is the engine's own).
 */
export async function stampAuditEvents(
  db: SqlConnection,
  now: string,
  setStamps: (loggedAt: string, seqs: number[], admin: Array<number | null>, user: Array<number | null>) => Promise<void>,
): Promise<number> {
  await db.rows(SQL.lockAuditSequence, []);
  let stamped = 0;
  for (;;) {
    const rows = await db.rows(SQL.unstampedAudit, [STAMP_BATCH]);
    if (rows.length === 0) return stamped;
    const events = rows.map((r) => ({ operation: String(r[1]), target: JSON.parse(String(r[2])) as AuditEvent['target'] }));
    const logs = events.map((e) => [inAdminLog(e), inUserLog(e)] as const);
    const { admins, users } = countByLog(events);
    const stamp = await advanceAuditSequence(db, now, admins, users);
    let { admin, user } = stamp;
    await setStamps(
      stamp.loggedAt,
      rows.map((r) => Number(r[0])),
      logs.map(([a]) => (a ? ++admin : null)),
      logs.map(([, u]) => (u ? ++user : null)),
    );
    stamped += rows.length;
    if (rows.length < STAMP_BATCH) return stamped;
  }
}

/** The millisecond after `iso` (an ISO 8601 UTC time with milliseconds). */
export const millisecondAfter = (iso: string): string => new Date(Date.parse(iso) + 1).toISOString();

const numberedCache = new Map<string, string>();
/** `sql` with its `?` placeholders numbered `$1, $2, ...`, as PostgreSQL takes them. */
export function numbered(sql: string): string {
  let text = numberedCache.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    if (numberedCache.size < 1000) numberedCache.set(sql, text);
  }
  return text;
}

const first = <T>(rows: Cells[], map: (r: Cells) => T): T | null => (rows.length === 0 ? null : map(rows[0]!));

/** The reads of `StoreReader`, on any engine's connection. */
export function sqlReads(db: SqlConnection): StoreReader {
  return {
    userById: async (id) => first(await db.rows(SQL.userById, [id]), toUser),
    userByEmail: async (email) => first(await db.rows(SQL.userByEmail, [email.toLowerCase()]), toUser),
    credentialsByDevice: async (device) => (await db.rows(SQL.credentialsByDevice, [device])).map(toCredential),
    credentialsOfUserDevice: async (userId, device) => (await db.rows(SQL.credentialsOfUserDevice, [userId, device])).map(toCredential),
    credentialByTokenSerial: async (token) => first(await db.rows(SQL.credentialByTokenSerial, [token]), toCredential),
    deviceCountOfUser: async (userId) => Number((await db.rows(SQL.deviceCountOfUser, [userId]))[0]?.[0] ?? 0),
    apiKey: async (accessId) => first(await db.rows(SQL.apiKey, [accessId]), toApiKey),
    apiKeys: async () => (await db.rows(SQL.apiKeys, [])).map(toApiKey),
    setting: async (name) => first(await db.rows(SQL.setting, [name]), (r) => String(r[0])),
    oauthClient: async (clientId) => first(await db.rows(SQL.oauthClient, [clientId]), toOAuthClient),
    oauthClients: async () => (await db.rows(SQL.oauthClients, [])).map(toOAuthClient),
    signingKey: async (kid) => first(await db.rows(SQL.signingKey, [kid]), toSigningKey),
    signingKeys: async () => (await db.rows(SQL.signingKeys, [])).map(toSigningKey),
    usersByEmailPrefix: async (prefix, limit) =>
      (await db.rows(SQL.usersByEmailPrefix, [prefix, `${prefix}\u{10FFFF}`, limit])).map(toUser),
    credentialsOfUser: async (userId) => (await db.rows(SQL.credentialsOfUser, [userId])).map(toCredential),
    adminById: async (id) => first(await db.rows(SQL.adminById, [id]), toAdmin),
    adminByEmail: async (email) => first(await db.rows(SQL.adminByEmail, [email.toLowerCase()]), toAdmin),
    admins: async () => (await db.rows(SQL.admins, [])).map(toAdmin),
    adminInvite: async (hash) => first(await db.rows(SQL.adminInvite, [hash]), toAdminInvite),
    passkey: async (id) => first(await db.rows(SQL.passkey, [id]), toPasskey),
    passkeysOfAdmin: async (adminId) => (await db.rows(SQL.passkeysOfAdmin, [adminId])).map(toPasskey),
    consoleSession: async (hash) => first(await db.rows(SQL.consoleSession, [hash]), toConsoleSession),
  };
}

/** The writes of `StoreTx`, on a connection inside a transaction; the engine adds its locks. */
export function sqlWrites(db: SqlConnection): Omit<StoreTx, keyof StoreReader | 'lockUser' | 'lockKeys' | 'lockSigningKeys' | 'appendAudit'> {
  return {
    insertUser: async (u) => void (await db.run(SQL.insertUser, userValues(u))),
    insertCredential: async (c) => void (await db.run(SQL.insertCredential, credentialValues(c))),
    setCredentialStatus: async (id, ch) =>
      void (await db.run(SQL.setCredentialStatus, [ch.tokenStatus, ch.changedAt, ch.changedBy, ch.changedAt, id])),
    clearCredentialPin: async (id, at) => void (await db.run(SQL.clearCredentialPin, [false, at, id])),
    deleteCredential: async (id) => void (await db.run(SQL.deleteCredential, [id])),
    insertApiKey: async (k) => void (await db.run(SQL.insertApiKey, apiKeyValues(k))),
    deleteApiKey: async (accessId) => (await db.run(SQL.deleteApiKey, [accessId])) > 0,
    insertOAuthClient: async (c) => void (await db.run(SQL.insertOAuthClient, oauthClientValues(c))),
    deleteOAuthClient: async (clientId) => (await db.run(SQL.deleteOAuthClient, [clientId])) > 0,
    insertSigningKey: async (k) => void (await db.run(SQL.insertSigningKey, signingKeyValues(k))),
    retireSigningKey: async (kid, retiredAt, notAfter) => void (await db.run(SQL.retireSigningKey, [retiredAt, notAfter, kid])),
    deleteSigningKeysBefore: async (now) => void (await db.run(SQL.deleteSigningKeysBefore, [now])),
    useJti: async (clientId, jti, expiresAt) => (await db.run(SQL.useJti, [clientId, jti, expiresAt])) > 0,
    pruneJtis: async (now) => void (await db.run(SQL.pruneJtis, [now])),
    putSetting: async (name, value) => void (await db.run(SQL.putSetting, [name, value])),
    sealAudit: async (end) => void (await db.run(SQL.sealAudit, [millisecondAfter(end), end])),
    deleteAuditBefore: (time, limit) => db.run(SQL.pruneAudit, [time, limit]),
    insertAdmin: async (a) => void (await db.run(SQL.insertAdmin, adminValues(a))),
    updateAdmin: async (a) => void (await db.run(SQL.updateAdmin, [a.role, a.enrolledAt, a.revokedAt, a.id])),
    insertAdminInvite: async (i) => void (await db.run(SQL.insertAdminInvite, adminInviteValues(i))),
    useAdminInvite: async (hash, now) => (await db.run(SQL.useAdminInvite, [now, hash, now])) > 0,
    deleteAdminInvites: async (adminId) => void (await db.run(SQL.deleteAdminInvites, [adminId])),
    insertPasskey: async (p) => void (await db.run(SQL.insertPasskey, passkeyValues(p))),
    usePasskey: async (id, counter, at) => void (await db.run(SQL.usePasskey, [counter, at, id])),
    deletePasskeysOfAdmin: async (adminId) => void (await db.run(SQL.deletePasskeysOfAdmin, [adminId])),
    insertConsoleSession: async (s) => void (await db.run(SQL.insertConsoleSession, consoleSessionValues(s))),
    touchConsoleSession: async (hash, at) => void (await db.run(SQL.touchConsoleSession, [at, hash])),
    deleteConsoleSession: async (hash) => (await db.run(SQL.deleteConsoleSession, [hash])) > 0,
    deleteConsoleSessionsOfAdmin: async (adminId) => void (await db.run(SQL.deleteConsoleSessionsOfAdmin, [adminId])),
    deleteStaleConsoleSessions: async (idleBefore, begunBefore) => void (await db.run(SQL.deleteStaleConsoleSessions, [idleBefore, begunBefore])),
    insertChallenge: async (challenge, purpose, now, expiresAt) => {
      // Options asked for and never answered leave their challenge: each new one sweeps the expired.
      await db.run(SQL.deleteExpiredChallenges, [now]);
      await db.run(SQL.insertChallenge, [challenge, purpose, expiresAt]);
    },
    takeChallenge: async (challenge, purpose, now) => (await db.run(SQL.takeChallenge, [challenge, purpose, now])) > 0,
  };
}

/**
 * Whether a window ending at `end` is sealed already, read without a lock: the sequencer hands
 * out stamps in the order its row is taken, and a writer keeps the row until its COMMIT, so once
 * a stamp later than `end` is committed, every stamp at or before `end` is committed too and
 * every later one is later still. Pages after the first of a fixed window skip the seal.
 */
export async function sealedAfter(db: SqlConnection, end: string): Promise<boolean> {
  const [row] = await db.rows(SQL.auditSequenceStamp, []);
  return row !== undefined && String(row[0]) > end;
}

/** The reads of the two event logs (contract 11) on any engine's connection. */
export function sqlAuditLogReads(db: SqlConnection): AuditLogReader {
  return {
    async auditLogPosition(log, time) {
      const [row] = await db.rows(logSql[log].positionAtOrBefore, [time, time, time]);
      return row === undefined || row[0] === null ? null : Number(row[0]);
    },
    auditLogPage: async (log, after, upTo) =>
      (await db.rows(logSql[log].page, [after, upTo])).map((r) => ({ ...toAuditEvent(r), position: Number(r[11]) })),
  };
}

/** ASCII letters to lower case, as both engines' lower() does it here (SQLite's, and PostgreSQL's under COLLATE "C"). */
const UPPER_ASCII = /[A-Z]/;
const asciiLower = (text: string): string => (UPPER_ASCII.test(text) ? text.replace(/[A-Z]/g, (c) => c.toLowerCase()) : text);

/**
 * The user an event names, as the column `target_user` keeps it for the search by user: the
 * target's `userId`, else its `email`, ASCII letters in lower case (migration 6 fills the rows
 * older than it the same way).
 */
export const targetUser = (t: AuditEvent['target']): string | null => {
  const v = t.userId ?? t.email;
  return v === undefined ? null : asciiLower(v);
};

/**
 * The one statement of a search of the trail (`Store.searchAudit`), built from the conditions it
 * has: the same text on both engines, each condition a fixed fragment with `?` values, so the
 * statements are few (one per combination) and a value is never part of the text. Newest first
 * walks the primary key backwards (or the index on `at` for a time bound) and stops at the limit;
 * a keyset position (`seq`) pages.
 */
export function searchAuditSql(s: AuditSearch): { sql: string; values: unknown[] } {
  const where: string[] = [];
  const values: unknown[] = [];
  const when = (condition: string, ...v: unknown[]) => {
    where.push(condition);
    values.push(...v);
  };
  // The admin log's events by what they are, stamped or not yet (PostgreSQL stamps after the commit).
  if (s.adminLog) when(`operation NOT IN (${place(EXPORT_OPERATIONS.length)})`, ...EXPORT_OPERATIONS);
  if (s.afterSeq !== undefined) when('seq > ?', s.afterSeq);
  if (s.beforeSeq !== undefined) when('seq < ?', s.beforeSeq);
  if (s.from !== undefined) when('at >= ?', s.from);
  if (s.to !== undefined) when('at <= ?', s.to);
  // An OAuth client's events keep its id as `oauth:<id>` (subjectColumn): asked by its id, found either way.
  if (s.subject !== undefined) when('subject IN (?, ?)', s.subject, `${OAUTH_SUBJECT_PREFIX}${s.subject}`);
  if (s.activity) when(`operation = ? AND outcome IN (${place(s.activity.outcomes.length)})`, s.activity.operation, ...s.activity.outcomes);
  if (s.user) {
    const names = [...new Set([...s.user.ids, ...s.user.emails].map(asciiLower))];
    if (names.length === 0) when('1 = 0');
    else when(`target_user IN (${place(names.length)})`, ...names);
  }
  const filter = where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`;
  return { sql: `SELECT ${AUDIT_COLUMNS} FROM audit_events${filter} ORDER BY seq${s.order === 'newest' ? ' DESC' : ''} LIMIT ?`, values: [...values, s.limit] };
}

/** `Store.searchAudit` on any engine's connection. */
export const searchAudit =
  (db: SqlConnection) =>
  async (search: AuditSearch): Promise<StoredAuditEvent[]> => {
    const { sql, values } = searchAuditSql(search);
    return (await db.rows(sql, values)).map(toAuditEvent);
  };

/** One page of the whole trail (see `auditPagesOf`), read through the same search. */
export const readAuditPage = (db: SqlConnection) => {
  const search = searchAudit(db);
  return (afterSeq: number, since: string, size: number): Promise<StoredAuditEvent[]> =>
    search({ afterSeq, ...(since ? { from: since } : {}), order: 'oldest', limit: size });
};
