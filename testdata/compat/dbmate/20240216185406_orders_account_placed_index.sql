-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY orders_account_placed_idx ON orders (account_id, placed_at DESC);

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY orders_account_placed_idx;
