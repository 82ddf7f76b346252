-- Latch schema, version 11: sign-ups in progress, kept beside sign-ins and
-- in the same shape: the whole `SignUp` as JSON, with the columns lookups,
-- purging and the compare-and-set on its version need.

CREATE TABLE sign_ups (
    id         TEXT PRIMARY KEY NOT NULL,
    client_id  TEXT NOT NULL,
    abandon_at INTEGER NOT NULL,
    -- Mirrors `SignUp::version` in the JSON.
    version    INTEGER NOT NULL,
    -- The whole `SignUp`, serialised with serde_json.
    data       TEXT NOT NULL
) STRICT;

CREATE INDEX sign_ups_by_abandon_at ON sign_ups (abandon_at);
CREATE INDEX sign_ups_by_client ON sign_ups (client_id);
