-- Adding a nullable column is safe while old code still runs: it neither
-- rewrites the table nor breaks an INSERT that does not name the column.
-- (An index on it would be built with CREATE INDEX CONCURRENTLY in a
-- "-- fleetgate:no-transaction" migration of its own; see docs/checks.md.)

-- fleetgate:up
ALTER TABLE accounts ADD COLUMN created_at text;

-- fleetgate:down
ALTER TABLE accounts DROP COLUMN created_at;
