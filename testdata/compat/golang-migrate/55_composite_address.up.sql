CREATE TYPE address AS (street text, city text, postcode text);
ALTER TABLE accounts ADD COLUMN billing_address address;
