-- Events, each written in the transaction of the change that caused it, and
-- their delivery to webhook endpoints: one message per event and endpoint,
-- made in that same transaction, and one row per attempt.
CREATE TABLE events (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    -- The body every endpoint receives, sealed with the instance key.
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX events_by_created_at ON events (created_at);

CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    -- The signing secret, sealed with the instance key.
    secret          TEXT NOT NULL,
    -- ',user.created,session.created,' or '' for every type.
    event_types     TEXT NOT NULL DEFAULT '',
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason TEXT,
    failing_since   BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE webhook_messages (
    event_id         TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    due_at           BIGINT NOT NULL,
    lease_token      TEXT,
    lease_until      BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (event_id, endpoint_id)
);

CREATE INDEX webhook_messages_due ON webhook_messages (status, due_at);
CREATE INDEX webhook_messages_by_endpoint ON webhook_messages (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    id          TEXT PRIMARY KEY,
    -- Insertion order, which orders attempts made in the same millisecond.
    seq         BIGSERIAL NOT NULL,
    event_id    TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    FOREIGN KEY (event_id, endpoint_id)
        REFERENCES webhook_messages (event_id, endpoint_id) ON DELETE CASCADE
);

CREATE INDEX webhook_attempts_of_message ON webhook_attempts (event_id, endpoint_id, at);
