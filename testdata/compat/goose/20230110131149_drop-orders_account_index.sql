-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY orders_account_id_idx;

-- +goose Down
CREATE INDEX CONCURRENTLY orders_account_id_idx ON orders (account_id);
