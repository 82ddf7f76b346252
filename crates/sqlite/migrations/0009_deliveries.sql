-- The outbox: messages delivered off the request path (one-time codes, and
-- later other kinds). The payload is sealed with the instance key and wiped
-- once the delivery is delivered or dead.
CREATE TABLE deliveries (
    id           TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    expire_at    INTEGER,
    lease_token  TEXT,
    lease_until  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE INDEX deliveries_due ON deliveries (status, due_at);
CREATE INDEX deliveries_by_created_at ON deliveries (created_at);
CREATE INDEX deliveries_finished ON deliveries (status, updated_at);
