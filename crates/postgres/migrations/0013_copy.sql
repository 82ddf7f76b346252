-- `latch copy`: the source a copy into this database came from (a digest of
-- the source's `instance` keys and values, which hold its signing key and
-- secret keys), when it started and when its check passed. A copy resumed
-- with `--resume` continues only a copy of that same source.
CREATE TABLE latch_copy (
    source      TEXT PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT
);
