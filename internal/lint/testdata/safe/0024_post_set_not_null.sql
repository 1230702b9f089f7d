-- fleetgate:phase post
-- fleetgate:up
-- The validated CHECK from 0011 lets PostgreSQL skip the scan.
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
ALTER TABLE users DROP CONSTRAINT users_email_not_null;
