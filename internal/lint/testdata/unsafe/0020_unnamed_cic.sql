-- fleetgate:no-transaction
-- fleetgate:up
CREATE INDEX CONCURRENTLY ON users (email);
