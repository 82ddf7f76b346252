-- The runtime settings: every version of the document, never changed once
-- written; the latest is in force.
CREATE TABLE settings_versions (
    version    BIGINT PRIMARY KEY,
    document   TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    changed_by TEXT NOT NULL
);

-- The allowlist and the blocklist.
CREATE TABLE access_list (
    id         TEXT PRIMARY KEY,
    list       TEXT NOT NULL,
    identifier TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (list, identifier)
);

-- One row: grows with every change of either table above, so replicas poll
-- one number to know they must reload.
CREATE TABLE settings_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO settings_generation (id, generation) VALUES (1, 0);
