-- migrate:up
CREATE TYPE address AS (street text, city text, postcode text);
ALTER TABLE accounts ADD COLUMN billing_address address;

-- migrate:down
ALTER TABLE accounts DROP COLUMN billing_address;
DROP TYPE address;
