import type { StoreReader, StoreTx } from '../domain/store.ts';
import {
  API_KEY_COLUMNS, AUDIT_COLUMNS, CREDENTIAL_COLUMNS, OAUTH_CLIENT_COLUMNS, SIGNING_KEY_COLUMNS, USER_COLUMNS, apiKeyValues, auditValues,
  credentialValues, oauthClientValues, signingKeyValues, toApiKey, toAuditEvent, toCredential, toOAuthClient, toSigningKey, toUser,
  userValues, type Cells,
} from './rows.ts';
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
const AUDIT_INSERT_COLUMNS = 'at, subject, role, client_address, request_id, operation, target, outcome, status';

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
  auditPage: `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq > ? AND at >= ? ORDER BY seq LIMIT ?`,
  ping: 'SELECT 1',
} as const;

/** One INSERT of `count` audit rows; `auditRowValues` gives its values. */
export const insertAuditRows = (count: number): string =>
  `INSERT INTO audit_events (${AUDIT_INSERT_COLUMNS}) VALUES ${Array(count).fill(`(${place(9)})`).join(', ')}`;
export const auditRowValues = (events: AuditEvent[]): unknown[] => events.flatMap(auditValues);

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
    oauthClient: async (clientId) => first(await db.rows(SQL.oauthClient, [clientId]), toOAuthClient),
    oauthClients: async () => (await db.rows(SQL.oauthClients, [])).map(toOAuthClient),
    signingKey: async (kid) => first(await db.rows(SQL.signingKey, [kid]), toSigningKey),
    signingKeys: async () => (await db.rows(SQL.signingKeys, [])).map(toSigningKey),
  };
}

/** The writes of `StoreTx`, on a connection inside a transaction; the engine adds its locks. */
export function sqlWrites(db: SqlConnection): Omit<StoreTx, keyof StoreReader | 'lockUser' | 'lockKeys' | 'lockSigningKeys'> {
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
    appendAudit: async (e) => void (await db.run(insertAuditRows(1), auditValues(e))),
  };
}

/** One page of the trail (see `auditPagesOf`). */
export const readAuditPage =
  (db: SqlConnection) =>
  async (afterSeq: number, since: string, size: number): Promise<StoredAuditEvent[]> =>
    (await db.rows(SQL.auditPage, [afterSeq, since, size])).map(toAuditEvent);
