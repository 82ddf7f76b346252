-- Latch schema, version 2: one lockout rule for accounts and stand-ins.
-- Failures are counted in a window (`attempt_window_ends_at`, milliseconds)
-- and forgotten when it ends; checks in flight are counted apart from
-- failures. Stand-ins of enumeration protection keep the same record in
-- `attempt_records`, keyed by their id. A count kept before this version
-- (failures and checks in flight together, no window) is forgotten at the
-- next attempt.
ALTER TABLE users ADD COLUMN attempts_in_flight BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN attempt_window_ends_at BIGINT;

CREATE TABLE attempt_records (
    id                     TEXT PRIMARY KEY,
    failed_attempts        BIGINT NOT NULL DEFAULT 0,
    attempts_in_flight     BIGINT NOT NULL DEFAULT 0,
    attempt_window_ends_at BIGINT,
    locked_until           BIGINT
);
