-- Operators: users who may open the dashboard. The role goes with its user.
-- `granted_by` is the operator who granted it, NULL when Latch itself did
-- (the command line, the first-run setup).
CREATE TABLE operators (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    granted_at INTEGER NOT NULL,
    granted_by TEXT
);
