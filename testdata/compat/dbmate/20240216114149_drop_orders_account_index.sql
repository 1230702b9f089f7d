-- migrate:up transaction:false
DROP INDEX CONCURRENTLY orders_account_id_idx;

-- migrate:down transaction:false
CREATE INDEX CONCURRENTLY orders_account_id_idx ON orders (account_id);
