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
];
