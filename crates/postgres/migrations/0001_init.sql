-- Latch schema on PostgreSQL, version 1: the durable repositories as the
-- SQLite adapter's migrations 0001-0005 leave them (sign-ins live in the flow
-- store, not here). Timestamps are Unix milliseconds, metadata JSON text, so
-- values round-trip exactly as the domain wrote them. Every integer is BIGINT,
-- so each parameter binds as an `i64`.

CREATE TABLE users (
    id                       TEXT PRIMARY KEY,
    -- Already lower-cased by `Username::parse`, so a plain UNIQUE is case-insensitive.
    username                 TEXT CONSTRAINT users_username_unique UNIQUE,
    password_digest          TEXT,
    first_name               TEXT,
    last_name                TEXT,
    external_id              TEXT,
    primary_email_address_id TEXT,
    primary_phone_number_id  TEXT,
    public_metadata          TEXT NOT NULL,
    private_metadata         TEXT NOT NULL,
    unsafe_metadata          TEXT NOT NULL,
    banned                   BOOLEAN NOT NULL,
    last_sign_in_at          BIGINT,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL,
    -- Lockout: written only by the lockout operations, never by updates.
    failed_attempts          BIGINT NOT NULL DEFAULT 0,
    locked_until             BIGINT,
    -- Second factors: secrets sealed with the instance's encryption key;
    -- `totp_last_step` is written only by `use_totp_step`.
    totp_secret              TEXT,
    totp_pending_secret      TEXT,
    totp_last_step           BIGINT
);

CREATE INDEX users_by_created_at ON users (created_at, id);
CREATE INDEX users_by_external_id ON users (external_id);

CREATE TABLE email_addresses (
    id                         TEXT PRIMARY KEY,
    user_id                    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Normalised (trimmed, lower-cased) by `EmailAddress::parse`.
    value                      TEXT NOT NULL CONSTRAINT email_addresses_value_unique UNIQUE,
    verified                   BOOLEAN NOT NULL,
    reserved_for_second_factor BOOLEAN NOT NULL,
    -- Index in `User::email_addresses`, so the aggregate reads back in order.
    position                   BIGINT NOT NULL,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

CREATE INDEX email_addresses_by_user ON email_addresses (user_id, position);

CREATE TABLE phone_numbers (
    id                         TEXT PRIMARY KEY,
    user_id                    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- E.164, as `PhoneNumber::parse` writes it.
    value                      TEXT NOT NULL CONSTRAINT phone_numbers_value_unique UNIQUE,
    verified                   BOOLEAN NOT NULL,
    reserved_for_second_factor BOOLEAN NOT NULL,
    position                   BIGINT NOT NULL,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

CREATE INDEX phone_numbers_by_user ON phone_numbers (user_id, position);

-- Keyed digests of unused backup codes, one row each, deleted when used.
CREATE TABLE backup_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  TEXT NOT NULL,
    PRIMARY KEY (user_id, digest)
);

-- Accounts at identity providers; a provider's account links to at most one user.
CREATE TABLE external_accounts (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider       TEXT NOT NULL,
    subject        TEXT NOT NULL,
    email          TEXT,
    email_verified BOOLEAN NOT NULL,
    first_name     TEXT,
    last_name      TEXT,
    username       TEXT,
    avatar_url     TEXT,
    position       BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CONSTRAINT external_accounts_provider_subject_unique UNIQUE (provider, subject)
);

CREATE INDEX external_accounts_by_user ON external_accounts (user_id, position);

CREATE TABLE clients (
    id                     TEXT PRIMARY KEY,
    -- SHA-256 (hex) of the current token only: rotation overwrites it.
    token_hash             TEXT NOT NULL UNIQUE,
    -- Sign-ins live in another store (memory, Redis): no foreign key.
    sign_in_id             TEXT,
    last_active_session_id TEXT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);

CREATE TABLE sessions (
    id                        TEXT PRIMARY KEY,
    -- Not a foreign key: deleting a client keeps its sessions, marked `removed`.
    client_id                 TEXT NOT NULL,
    user_id                   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status                    TEXT NOT NULL,
    last_active_at            BIGINT NOT NULL,
    expire_at                 BIGINT NOT NULL,
    first_factor_verified_at  BIGINT NOT NULL,
    second_factor_verified_at BIGINT,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_id, created_at, id);
CREATE INDEX sessions_by_client ON sessions (client_id, created_at, id);
CREATE INDEX sessions_by_created_at ON sessions (created_at, id);

CREATE TABLE instance (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
