-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY accounts_created_at_idx ON accounts (created_at);

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY accounts_created_at_idx;
