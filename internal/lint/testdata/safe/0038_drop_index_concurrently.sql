-- fleetgate:no-transaction
-- fleetgate:up
DROP INDEX CONCURRENTLY IF EXISTS orders_status_idx;

-- fleetgate:down
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders (status) WHERE status <> 'shipped';
