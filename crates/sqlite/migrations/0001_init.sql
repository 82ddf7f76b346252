-- Latch schema, version 1. Timestamps are Unix milliseconds, booleans 0/1,
-- metadata and sign-ins JSON text.

CREATE TABLE users (
    id                       TEXT PRIMARY KEY NOT NULL,
    -- Already lower-cased by `Username::parse`, so a plain UNIQUE is case-insensitive.
    username                 TEXT UNIQUE,
    password_digest          TEXT,
    first_name               TEXT,
    last_name                TEXT,
    external_id              TEXT,
    primary_email_address_id TEXT,
    primary_phone_number_id  TEXT,
    public_metadata          TEXT NOT NULL,
    private_metadata         TEXT NOT NULL,
    unsafe_metadata          TEXT NOT NULL,
    banned                   INTEGER NOT NULL,
    last_sign_in_at          INTEGER,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
) STRICT;

CREATE INDEX users_by_created_at ON users (created_at, id);
CREATE INDEX users_by_external_id ON users (external_id);

CREATE TABLE email_addresses (
    id                         TEXT PRIMARY KEY NOT NULL,
    user_id                    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Normalised (trimmed, lower-cased) by `EmailAddress::parse`.
    value                      TEXT NOT NULL UNIQUE,
    verified                   INTEGER NOT NULL,
    reserved_for_second_factor INTEGER NOT NULL,
    -- Index in `User::email_addresses`, so the aggregate reads back in order.
    position                   INTEGER NOT NULL,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
) STRICT;

CREATE INDEX email_addresses_by_user ON email_addresses (user_id, position);

CREATE TABLE phone_numbers (
    id                         TEXT PRIMARY KEY NOT NULL,
    user_id                    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- E.164, as `PhoneNumber::parse` writes it.
    value                      TEXT NOT NULL UNIQUE,
    verified                   INTEGER NOT NULL,
    reserved_for_second_factor INTEGER NOT NULL,
    position                   INTEGER NOT NULL,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
) STRICT;

CREATE INDEX phone_numbers_by_user ON phone_numbers (user_id, position);

CREATE TABLE clients (
    id                     TEXT PRIMARY KEY NOT NULL,
    -- SHA-256 (hex) of the current token only: rotation overwrites it.
    token_hash             TEXT NOT NULL UNIQUE,
    -- Sign-ins may live in another store (memory, Redis): no foreign key.
    sign_in_id             TEXT,
    last_active_session_id TEXT,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id                        TEXT PRIMARY KEY NOT NULL,
    -- Not a foreign key: deleting a client keeps its sessions, marked `removed`.
    client_id                 TEXT NOT NULL,
    user_id                   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status                    TEXT NOT NULL,
    last_active_at            INTEGER NOT NULL,
    expire_at                 INTEGER NOT NULL,
    first_factor_verified_at  INTEGER NOT NULL,
    second_factor_verified_at INTEGER,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id, created_at, id);
CREATE INDEX sessions_by_client ON sessions (client_id, created_at, id);
CREATE INDEX sessions_by_created_at ON sessions (created_at, id);

CREATE TABLE sign_ins (
    id         TEXT PRIMARY KEY NOT NULL,
    client_id  TEXT NOT NULL,
    abandon_at INTEGER NOT NULL,
    -- The whole `SignIn`, serialised with serde_json.
    data       TEXT NOT NULL
) STRICT;

CREATE INDEX sign_ins_by_abandon_at ON sign_ins (abandon_at);
CREATE INDEX sign_ins_by_client ON sign_ins (client_id);

CREATE TABLE instance (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
