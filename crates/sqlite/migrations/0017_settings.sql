-- The runtime settings: every version of the document, never changed once
-- written; the latest is in force.
CREATE TABLE settings_versions (
    version    INTEGER PRIMARY KEY NOT NULL,
    document   TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    changed_by TEXT NOT NULL
);

-- The allowlist and the blocklist.
CREATE TABLE access_list (
    id         TEXT PRIMARY KEY NOT NULL,
    list       TEXT NOT NULL,
    identifier TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (list, identifier)
);

-- One row: grows with every change of either table above, so replicas poll
-- one number to know they must reload.
CREATE TABLE settings_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO settings_generation (id, generation) VALUES (1, 0);
