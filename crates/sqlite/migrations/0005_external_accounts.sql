-- Latch schema, version 5: accounts at identity providers (OAuth, OpenID
-- Connect), one row each, linked to a user. A provider's account links to
-- at most one user.
CREATE TABLE external_accounts (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider       TEXT NOT NULL,
    subject        TEXT NOT NULL,
    email          TEXT,
    email_verified INTEGER NOT NULL,
    first_name     TEXT,
    last_name      TEXT,
    username       TEXT,
    avatar_url     TEXT,
    -- Index in `User::external_accounts`, so the aggregate reads back in order.
    position       INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (provider, subject)
) STRICT;

CREATE INDEX external_accounts_by_user ON external_accounts (user_id, position);
