-- Latch schema, version 2: sign-ins carry a version, compared and bumped by
-- every replace, so two requests racing on one sign-in cannot both win.

-- Sign-ins are short-lived flow state, and those stored by version 1 are JSON
-- the new `SignIn` cannot read (no version, no second-factor fields). They are
-- dropped rather than guessed at: a user mid-sign-in during the upgrade starts
-- again. Clients pointing at one already tolerate a missing sign-in, as they
-- do after a purge.
DELETE FROM sign_ins;

-- Mirrors `SignIn::version` in the JSON, so the compare-and-set is one
-- `UPDATE ... WHERE id = ? AND version = ?`.
ALTER TABLE sign_ins ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
