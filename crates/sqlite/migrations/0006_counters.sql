-- Rate-limit counters: one fixed window per key.
CREATE TABLE counters (
    key         TEXT PRIMARY KEY NOT NULL,
    count       INTEGER NOT NULL,
    window_ends INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX counters_by_window_end ON counters (window_ends);
