-- fleetgate:no-transaction
-- fleetgate:up
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders (status) WHERE status <> 'shipped';
CREATE INDEX CONCURRENTLY users_name_trgm_idx ON users USING gin (name gin_trgm_ops);

-- fleetgate:down
DROP INDEX CONCURRENTLY IF EXISTS users_name_trgm_idx;
DROP INDEX CONCURRENTLY IF EXISTS orders_status_idx;
