import { CREDENTIALS_IN_ANSWER_ORDER } from '../migrate.ts';
/**
 * Versioned schema of the SQLite store. A migration is never edited once released: a change is a
 * new entry. They are applied in order at start-up, each in its own transaction, and recorded in
 * `schema_migrations`.
 */
export const sqliteMigrations: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'directory, credentials, api keys, audit trail',
    sql: `
      CREATE TABLE users (
        id               TEXT PRIMARY KEY,
        email            TEXT,
        email_lower      TEXT,
        first_name       TEXT,
        last_name        TEXT,
        creation_date    TEXT NOT NULL,
        identity_source  TEXT,
        user_status      TEXT NOT NULL CHECK (user_status IN ('Enabled', 'Disabled')),
        mark_deleted     INTEGER NOT NULL DEFAULT 0,
        mark_deleted_at  TEXT,
        mark_deleted_by  TEXT,
        last_sync_time   TEXT
      ) STRICT;
      CREATE UNIQUE INDEX users_email_lower ON users (email_lower);

      CREATE TABLE credentials (
        id                       TEXT PRIMARY KEY,
        name                     TEXT,
        user_id                  TEXT NOT NULL REFERENCES users (id),
        device_type              TEXT NOT NULL,
        registered_date          TEXT NOT NULL,
        token_serial             TEXT NOT NULL,
        updated_at               TEXT NOT NULL,
        token_state              TEXT NOT NULL,
        expiry_date              TEXT,
        token_status             TEXT NOT NULL CHECK (token_status IN ('Enabled', 'Disabled')),
        token_status_reason      TEXT,
        assigned_at              TEXT,
        assigned_by              TEXT,
        pin_set                  INTEGER NOT NULL DEFAULT 0,
        token_status_changed_at  TEXT,
        token_status_changed_by  TEXT,
        device_serial            TEXT NOT NULL
      ) STRICT;
      CREATE UNIQUE INDEX credentials_token_serial ON credentials (token_serial);
      CREATE INDEX credentials_device_serial ON credentials (device_serial);
      CREATE INDEX credentials_user_device ON credentials (user_id, device_serial);

      CREATE TABLE api_keys (
        access_id       TEXT PRIMARY KEY,
        role            TEXT NOT NULL CHECK (role IN ('SuperAdmin', 'HelpDeskAdmin', 'ReadOnly')),
        description     TEXT,
        public_key_pem  TEXT NOT NULL,
        created_at      TEXT NOT NULL
      ) STRICT;

      CREATE TABLE audit_events (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        at              TEXT NOT NULL,
        subject         TEXT,
        role            TEXT,
        client_address  TEXT,
        request_id      TEXT,
        operation       TEXT NOT NULL,
        target          TEXT NOT NULL,
        outcome         TEXT NOT NULL,
        status          INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX audit_events_at ON audit_events (at);
    `,
  },
  {
    version: 2,
    name: 'oauth clients, signing keys, used assertion ids',
    sql: `
      CREATE TABLE oauth_clients (
        client_id       TEXT PRIMARY KEY,
        description     TEXT,
        scopes          TEXT NOT NULL,
        alg             TEXT NOT NULL CHECK (alg IN ('RS256', 'ES256')),
        kid             TEXT NOT NULL,
        public_key_pem  TEXT NOT NULL,
        created_at      TEXT NOT NULL
      ) STRICT;

      CREATE TABLE signing_keys (
        kid              TEXT PRIMARY KEY,
        private_key_pem  TEXT NOT NULL,
        public_key_pem   TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        retired_at       TEXT,
        not_after        TEXT
      ) STRICT;

      CREATE TABLE used_jtis (
        client_id   TEXT NOT NULL,
        jti         TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        PRIMARY KEY (client_id, jti)
      ) STRICT;
      CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);
    `,
  },
  {
    version: 3,
    name: 'event log: commit stamps and positions of the audit trail, one sequencer',
    // eventLogDate and the two logs' positions are given at commit, under the one row of
    // audit_sequence (docs/contract.md, section 11). Rows older than this migration are stamped
    // with the time of their call and numbered in that order.
    sql: `
      ALTER TABLE audit_events ADD COLUMN logged_at TEXT NOT NULL DEFAULT '';
      ALTER TABLE audit_events ADD COLUMN admin_position INTEGER;
      ALTER TABLE audit_events ADD COLUMN user_position INTEGER;
      UPDATE audit_events SET logged_at = at;
      UPDATE audit_events SET admin_position = r.n
        FROM (SELECT seq, ROW_NUMBER() OVER (ORDER BY at, seq) AS n FROM audit_events
              WHERE operation NOT IN ('adminlog.export', 'usereventlog.export')) AS r
        WHERE audit_events.seq = r.seq;
      UPDATE audit_events SET user_position = r.n
        FROM (SELECT seq, ROW_NUMBER() OVER (ORDER BY at, seq) AS n FROM audit_events
              WHERE operation IN ('ds100.enable', 'ds100.disable', 'ds100.delete', 'ds100.clearPin', 'ds100.register')
                AND target LIKE '%"userId":%') AS r
        WHERE audit_events.seq = r.seq;
      CREATE INDEX audit_events_admin_position ON audit_events (logged_at, admin_position) WHERE admin_position IS NOT NULL;
      CREATE UNIQUE INDEX audit_events_admin_order ON audit_events (admin_position) WHERE admin_position IS NOT NULL;
      CREATE INDEX audit_events_user_position ON audit_events (logged_at, user_position) WHERE user_position IS NOT NULL;
      CREATE UNIQUE INDEX audit_events_user_order ON audit_events (user_position) WHERE user_position IS NOT NULL;
      CREATE INDEX audit_events_logged_at ON audit_events (logged_at);

      CREATE TABLE audit_sequence (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        logged_at       TEXT NOT NULL,
        admin_position  INTEGER NOT NULL,
        user_position   INTEGER NOT NULL
      ) STRICT;
      INSERT INTO audit_sequence (id, logged_at, admin_position, user_position) SELECT 1,
        COALESCE((SELECT MAX(logged_at) FROM audit_events), ''),
        COALESCE((SELECT MAX(admin_position) FROM audit_events), 0),
        COALESCE((SELECT MAX(user_position) FROM audit_events), 0);
    `,
  },
  {
    version: 4,
    name: 'console administrators, passkeys, invites, sessions, WebAuthn challenges',
    sql: `
      CREATE TABLE admins (
        id           TEXT PRIMARY KEY,
        email        TEXT NOT NULL,
        email_lower  TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (role IN ('SuperAdmin', 'HelpDeskAdmin', 'ReadOnly')),
        created_at   TEXT NOT NULL,
        created_by   TEXT,
        enrolled_at  TEXT,
        revoked_at   TEXT
      ) STRICT;
      CREATE UNIQUE INDEX admins_email_lower ON admins (email_lower);

      CREATE TABLE admin_invites (
        token_hash  TEXT PRIMARY KEY,
        admin_id    TEXT NOT NULL REFERENCES admins (id),
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        used_at     TEXT
      ) STRICT;
      CREATE INDEX admin_invites_admin ON admin_invites (admin_id);

      CREATE TABLE admin_passkeys (
        credential_id  TEXT PRIMARY KEY,
        admin_id       TEXT NOT NULL REFERENCES admins (id),
        public_key     TEXT NOT NULL,
        counter        INTEGER NOT NULL,
        transports     TEXT NOT NULL,
        created_at     TEXT NOT NULL,
        last_used_at   TEXT
      ) STRICT;
      CREATE INDEX admin_passkeys_admin ON admin_passkeys (admin_id);

      CREATE TABLE console_sessions (
        id_hash       TEXT PRIMARY KEY,
        admin_id      TEXT NOT NULL REFERENCES admins (id),
        created_at    TEXT NOT NULL,
        last_seen_at  TEXT NOT NULL
      ) STRICT;
      CREATE INDEX console_sessions_admin ON console_sessions (admin_id);

      CREATE TABLE webauthn_challenges (
        challenge   TEXT PRIMARY KEY,
        purpose     TEXT NOT NULL,
        expires_at  TEXT NOT NULL
      ) STRICT;
      CREATE INDEX webauthn_challenges_expires ON webauthn_challenges (expires_at);
    `,
  },
  {
    version: 5,
    name: 'settings the server runs with (its public URL)',
    sql: `
      CREATE TABLE settings (
        name   TEXT PRIMARY KEY,
        value  TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 6,
    name: "the trail's search by user; the event logs' stamps and their indexes",
    // Every API call writes an audit event, so each index of audit_events is paid on every call,
    // and an index on a value that is not in time order (a user's id) costs a page written per event:
    // - target_user (the target's userId, else its e-mail address, ASCII letters in lower case, as
    //   writeAuditEvents writes it) is what the activity page's user filter compares, without
    //   reading every target's JSON. It has no index: the search walks the trail newest first and
    //   stops at a page, as for an administrator or an activity; an index cost every change of a
    //   credential a tenth of its CPU time in the benchmark (toggle), for a search a person runs;
    // - admin-log positions rise with (logged_at, seq) (a group commit stamps and numbers its
    //   events in the order it inserts them), and nearly every event is in the admin log, so its
    //   window's bounds are found in the index on logged_at (docs/contract.md, section 11), and the
    //   index on (logged_at, admin_position) goes.
    // SQLite's lower() folds ASCII only, as the writer does; its indexes end with the rowid (seq).
    sql: `
      ALTER TABLE audit_events ADD COLUMN target_user TEXT;
      UPDATE audit_events SET target_user = lower(coalesce(json_extract(target, '$.userId'), json_extract(target, '$.email')));
      DROP INDEX audit_events_admin_position;
    `,
  },
  {
    version: 7,
    name: "the event logs' bounds found by bisection of their numbers; pruning by the time of the call",
    // Each index of audit_events is paid by every call the server answers. A log's window bounds
    // are found by bisection over its numbers' unique index (sql.ts, logSql), so the indexes on
    // the stamp go; pruning reads the index on the call's time (`at`), which is never later than
    // the stamp (docs/contract.md, section 11).
    sql: `
      DROP INDEX audit_events_logged_at;
      DROP INDEX audit_events_user_position;
    `,
  },
  CREDENTIALS_IN_ANSWER_ORDER,
];
