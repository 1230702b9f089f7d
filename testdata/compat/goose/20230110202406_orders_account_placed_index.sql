-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY orders_account_placed_idx ON orders (account_id, placed_at DESC);

-- +goose Down
DROP INDEX CONCURRENTLY orders_account_placed_idx;
