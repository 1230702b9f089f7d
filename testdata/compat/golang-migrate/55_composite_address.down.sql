ALTER TABLE accounts DROP COLUMN billing_address;
DROP TYPE address;
