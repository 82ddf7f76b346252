-- What the wire format tells about an account's history: when its password
-- and two-factor changed, how its client last signed in, where a session
-- started, and the scopes a provider granted. Accounts from before this
-- migration take their creation time, the earliest the change can have been.
ALTER TABLE users ADD COLUMN password_updated_at INTEGER;
ALTER TABLE users ADD COLUMN mfa_enabled_at INTEGER;
ALTER TABLE users ADD COLUMN mfa_disabled_at INTEGER;
UPDATE users SET password_updated_at = created_at WHERE password_digest IS NOT NULL;
UPDATE users SET mfa_enabled_at = created_at
 WHERE totp_secret IS NOT NULL
    OR EXISTS (SELECT 1 FROM backup_codes WHERE backup_codes.user_id = users.id)
    OR EXISTS (SELECT 1 FROM phone_numbers
                WHERE phone_numbers.user_id = users.id AND reserved_for_second_factor = 1);

ALTER TABLE external_accounts ADD COLUMN approved_scopes TEXT NOT NULL DEFAULT '';

ALTER TABLE clients ADD COLUMN last_authentication_strategy TEXT;

ALTER TABLE sessions ADD COLUMN sign_in_strategy TEXT;
ALTER TABLE sessions ADD COLUMN ip_address TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
