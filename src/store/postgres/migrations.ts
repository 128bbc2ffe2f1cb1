import { CREDENTIALS_IN_ANSWER_ORDER } from '../migrate.ts';
/**
 * Versioned schema of the PostgreSQL store: the same versions, tables and column names as
 * `sqlite/migrations.ts`, so that `store/rows.ts` maps rows of either engine and both answer
 * byte for byte alike. A migration is never edited once released: a change is a new entry here
 * and in the SQLite list, under the same version number.
 *
 * Choices that keep the two engines identical:
 * - timestamps are TEXT holding the wire's ISO 8601 strings, as on SQLite, not `timestamptz`
 *   (which would reformat them and lose the `Z` form);
 * - every text column compares and sorts with `COLLATE "C"` (bytes, like SQLite's BINARY),
 *   whatever the database's default collation, so ORDER BY and `at >= ?` agree across engines;
 * - the audit target stays TEXT holding the JSON as written (JSONB would reorder its keys);
 * - booleans are BOOLEAN (SQLite stores 0/1; the row mappers read both).
 */
export const postgresMigrations: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'directory, credentials, api keys, audit trail',
    sql: `
      CREATE TABLE users (
        id               TEXT COLLATE "C" PRIMARY KEY,
        email            TEXT COLLATE "C",
        email_lower      TEXT COLLATE "C",
        first_name       TEXT COLLATE "C",
        last_name        TEXT COLLATE "C",
        creation_date    TEXT COLLATE "C" NOT NULL,
        identity_source  TEXT COLLATE "C",
        user_status      TEXT COLLATE "C" NOT NULL CHECK (user_status IN ('Enabled', 'Disabled')),
        mark_deleted     BOOLEAN NOT NULL DEFAULT FALSE,
        mark_deleted_at  TEXT COLLATE "C",
        mark_deleted_by  TEXT COLLATE "C",
        last_sync_time   TEXT COLLATE "C"
      );
      CREATE UNIQUE INDEX users_email_lower ON users (email_lower);

      CREATE TABLE credentials (
        id                       TEXT COLLATE "C" PRIMARY KEY,
        name                     TEXT COLLATE "C",
        user_id                  TEXT COLLATE "C" NOT NULL REFERENCES users (id),
        device_type              TEXT COLLATE "C" NOT NULL,
        registered_date          TEXT COLLATE "C" NOT NULL,
        token_serial             TEXT COLLATE "C" NOT NULL,
        updated_at               TEXT COLLATE "C" NOT NULL,
        token_state              TEXT COLLATE "C" NOT NULL,
        expiry_date              TEXT COLLATE "C",
        token_status             TEXT COLLATE "C" NOT NULL CHECK (token_status IN ('Enabled', 'Disabled')),
        token_status_reason      TEXT COLLATE "C",
        assigned_at              TEXT COLLATE "C",
        assigned_by              TEXT COLLATE "C",
        pin_set                  BOOLEAN NOT NULL DEFAULT FALSE,
        token_status_changed_at  TEXT COLLATE "C",
        token_status_changed_by  TEXT COLLATE "C",
        device_serial            TEXT COLLATE "C" NOT NULL
      );
      CREATE UNIQUE INDEX credentials_token_serial ON credentials (token_serial);
      CREATE INDEX credentials_device_serial ON credentials (device_serial);
      CREATE INDEX credentials_user_device ON credentials (user_id, device_serial);

      CREATE TABLE api_keys (
        access_id       TEXT COLLATE "C" PRIMARY KEY,
        role            TEXT COLLATE "C" NOT NULL CHECK (role IN ('SuperAdmin', 'HelpDeskAdmin', 'ReadOnly')),
        description     TEXT COLLATE "C",
        public_key_pem  TEXT COLLATE "C" NOT NULL,
        created_at      TEXT COLLATE "C" NOT NULL
      );

      CREATE TABLE audit_events (
        seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at              TEXT COLLATE "C" NOT NULL,
        subject         TEXT COLLATE "C",
        role            TEXT COLLATE "C",
        client_address  TEXT COLLATE "C",
        request_id      TEXT COLLATE "C",
        operation       TEXT COLLATE "C" NOT NULL,
        target          TEXT COLLATE "C" NOT NULL,
        outcome         TEXT COLLATE "C" NOT NULL,
        status          INTEGER NOT NULL
      );
      CREATE INDEX audit_events_at ON audit_events (at);
    `,
  },
  {
    version: 2,
    name: 'oauth clients, signing keys, used assertion ids',
    sql: `
      CREATE TABLE oauth_clients (
        client_id       TEXT COLLATE "C" PRIMARY KEY,
        description     TEXT COLLATE "C",
        scopes          TEXT COLLATE "C" NOT NULL,
        alg             TEXT COLLATE "C" NOT NULL CHECK (alg IN ('RS256', 'ES256')),
        kid             TEXT COLLATE "C" NOT NULL,
        public_key_pem  TEXT COLLATE "C" NOT NULL,
        created_at      TEXT COLLATE "C" NOT NULL
      );

      CREATE TABLE signing_keys (
        kid              TEXT COLLATE "C" PRIMARY KEY,
        private_key_pem  TEXT COLLATE "C" NOT NULL,
        public_key_pem   TEXT COLLATE "C" NOT NULL,
        created_at       TEXT COLLATE "C" NOT NULL,
        retired_at       TEXT COLLATE "C",
        not_after        TEXT COLLATE "C"
      );

      CREATE TABLE used_jtis (
        client_id   TEXT COLLATE "C" NOT NULL,
        jti         TEXT COLLATE "C" NOT NULL,
        expires_at  TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (client_id, jti)
      );
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
      ALTER TABLE audit_events ADD COLUMN logged_at TEXT COLLATE "C" NOT NULL DEFAULT '';
      ALTER TABLE audit_events ADD COLUMN admin_position BIGINT;
      ALTER TABLE audit_events ADD COLUMN user_position BIGINT;
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
        logged_at       TEXT COLLATE "C" NOT NULL,
        admin_position  BIGINT NOT NULL,
        user_position   BIGINT NOT NULL
      );
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
        id           TEXT COLLATE "C" PRIMARY KEY,
        email        TEXT COLLATE "C" NOT NULL,
        email_lower  TEXT COLLATE "C" NOT NULL,
        role         TEXT COLLATE "C" NOT NULL CHECK (role IN ('SuperAdmin', 'HelpDeskAdmin', 'ReadOnly')),
        created_at   TEXT COLLATE "C" NOT NULL,
        created_by   TEXT COLLATE "C",
        enrolled_at  TEXT COLLATE "C",
        revoked_at   TEXT COLLATE "C"
      );
      CREATE UNIQUE INDEX admins_email_lower ON admins (email_lower);

      CREATE TABLE admin_invites (
        token_hash  TEXT COLLATE "C" PRIMARY KEY,
        admin_id    TEXT COLLATE "C" NOT NULL REFERENCES admins (id),
        created_at  TEXT COLLATE "C" NOT NULL,
        expires_at  TEXT COLLATE "C" NOT NULL,
        used_at     TEXT COLLATE "C"
      );
      CREATE INDEX admin_invites_admin ON admin_invites (admin_id);

      CREATE TABLE admin_passkeys (
        credential_id  TEXT COLLATE "C" PRIMARY KEY,
        admin_id       TEXT COLLATE "C" NOT NULL REFERENCES admins (id),
        public_key     TEXT COLLATE "C" NOT NULL,
        counter        BIGINT NOT NULL,
        transports     TEXT COLLATE "C" NOT NULL,
        created_at     TEXT COLLATE "C" NOT NULL,
        last_used_at   TEXT COLLATE "C"
      );
      CREATE INDEX admin_passkeys_admin ON admin_passkeys (admin_id);

      CREATE TABLE console_sessions (
        id_hash       TEXT COLLATE "C" PRIMARY KEY,
        admin_id      TEXT COLLATE "C" NOT NULL REFERENCES admins (id),
        created_at    TEXT COLLATE "C" NOT NULL,
        last_seen_at  TEXT COLLATE "C" NOT NULL
      );
      CREATE INDEX console_sessions_admin ON console_sessions (admin_id);

      CREATE TABLE webauthn_challenges (
        challenge   TEXT COLLATE "C" PRIMARY KEY,
        purpose     TEXT COLLATE "C" NOT NULL,
        expires_at  TEXT COLLATE "C" NOT NULL
      );
      CREATE INDEX webauthn_challenges_expires ON webauthn_challenges (expires_at);
    `,
  },
  {
    version: 5,
    name: 'settings the server runs with (its public URL)',
    sql: `
      CREATE TABLE settings (
        name   TEXT COLLATE "C" PRIMARY KEY,
        value  TEXT COLLATE "C" NOT NULL
      );
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
    // - unlike SQLite, the index on (logged_at, admin_position) stays: a stamping pass may stamp
    //   an older seq after a newer one, so one stamp's events are ordered by position, not seq
    //   (docs/contract.md, section 11);
    // - the events of calls are written unstamped and stamped after their commit (sql.ts,
    //   stampAuditEvents): the stamper finds them in a partial index that holds only them.
    // lower() under COLLATE "C" folds ASCII letters only, as the writer does.
    sql: `
      ALTER TABLE audit_events ADD COLUMN target_user TEXT COLLATE "C";
      UPDATE audit_events SET target_user = lower(coalesce(target::json ->> 'userId', target::json ->> 'email') COLLATE "C");
      CREATE INDEX audit_events_unstamped ON audit_events (seq) WHERE logged_at = '';
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
      DROP INDEX audit_events_admin_position;
    `,
  },
  CREDENTIALS_IN_ANSWER_ORDER,
];
