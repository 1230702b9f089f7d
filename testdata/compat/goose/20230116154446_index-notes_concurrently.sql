-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS notes_account_id_idx ON notes (account_id);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS notes_account_id_idx;
