-- The idle-client purge reads clients by their last change: an index keeps
-- it from scanning every client on each round.
CREATE INDEX clients_by_updated_at ON clients (updated_at);
