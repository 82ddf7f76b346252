-- Latch schema, version 4: second factors. `totp_secret` holds the secret
-- sealed with the instance's encryption key; `totp_last_step` is the last
-- time step whose code was accepted (updates of the user never write it).
-- Backup codes are kept as keyed digests, one row each, deleted when used.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
-- A secret being enrolled, sealed the same way, until a code from it is verified.
ALTER TABLE users ADD COLUMN totp_pending_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;

CREATE TABLE backup_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  TEXT NOT NULL,
    PRIMARY KEY (user_id, digest)
) STRICT, WITHOUT ROWID;
