-- Latch schema, version 7: one lockout rule for accounts and stand-ins.
-- Failures are counted in a window (`attempt_window_ends_at`, milliseconds)
-- and forgotten when it ends; checks in flight are counted apart from
-- failures. Stand-ins of enumeration protection keep the same record in
-- `attempt_records`, keyed by their id. A count kept before this version
-- (failures and checks in flight together, no window) is forgotten at the
-- next attempt.
ALTER TABLE users ADD COLUMN attempts_in_flight INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN attempt_window_ends_at INTEGER;

CREATE TABLE attempt_records (
    id                     TEXT PRIMARY KEY NOT NULL,
    failed_attempts        INTEGER NOT NULL DEFAULT 0,
    attempts_in_flight     INTEGER NOT NULL DEFAULT 0,
    attempt_window_ends_at INTEGER,
    locked_until           INTEGER
) WITHOUT ROWID;
