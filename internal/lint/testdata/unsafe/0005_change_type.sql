-- fleetgate:up
ALTER TABLE users ALTER COLUMN age TYPE bigint;
