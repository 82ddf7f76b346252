-- Latch schema, version 3: lockout. Failed factor attempts are counted per
-- user; enough of them set `locked_until` (milliseconds; the largest integer
-- for a lock without end). Updates of the user never write these columns.
ALTER TABLE users ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until INTEGER;
