CREATE INDEX CONCURRENTLY IF NOT EXISTS notes_account_id_idx ON notes (account_id);
