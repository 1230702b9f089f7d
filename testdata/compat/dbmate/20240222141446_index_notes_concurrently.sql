-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY IF NOT EXISTS notes_account_id_idx ON notes (account_id);

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY IF EXISTS notes_account_id_idx;
