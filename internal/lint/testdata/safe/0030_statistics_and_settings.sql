-- fleetgate:up
ALTER TABLE orders ALTER COLUMN status SET STATISTICS 500;
ALTER TABLE orders SET (autovacuum_vacuum_scale_factor = 0.02);
CREATE STATISTICS orders_user_status (dependencies) ON user_id, status FROM orders;
ANALYZE orders;
