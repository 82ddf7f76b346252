-- The audit log: security events, appended and never changed (retention
-- deletes the oldest). `detail` is a JSON object of plain facts.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    at         INTEGER NOT NULL,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    user_id    TEXT,
    client_ip  TEXT,
    user_agent TEXT,
    detail     TEXT NOT NULL
);

CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE INDEX audit_log_by_user ON audit_log (user_id, seq);
CREATE INDEX audit_log_by_action ON audit_log (action, seq);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
