-- The outbox: messages delivered off the request path (one-time codes, and
-- later other kinds). The payload is sealed with the instance key and wiped
-- once the delivery is delivered or dead.
CREATE TABLE deliveries (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT,
    status       TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    due_at       BIGINT NOT NULL,
    expire_at    BIGINT,
    lease_token  TEXT,
    lease_until  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX deliveries_due ON deliveries (status, due_at);
CREATE INDEX deliveries_by_created_at ON deliveries (created_at);
CREATE INDEX deliveries_finished ON deliveries (status, updated_at);
