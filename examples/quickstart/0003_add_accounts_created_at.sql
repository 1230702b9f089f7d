-- fleetgate:up
ALTER TABLE accounts ADD COLUMN created_at text;
CREATE INDEX accounts_created_at ON accounts (created_at);

-- fleetgate:down
DROP INDEX accounts_created_at;
ALTER TABLE accounts DROP COLUMN created_at;
