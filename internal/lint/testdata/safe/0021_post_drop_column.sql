-- fleetgate:phase post
-- fleetgate:up
ALTER TABLE users DROP COLUMN IF EXISTS legacy_flags;
