-- When a user accepted the terms of service and privacy policy, on an
-- instance that asks at sign-up. Written when the user is made, never after.
ALTER TABLE users ADD COLUMN legal_accepted_at INTEGER;
