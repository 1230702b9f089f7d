-- fleetgate:phase pre
-- fleetgate:up
ALTER TABLE people ADD COLUMN full_name text;
-- fleetgate:down
ALTER TABLE people DROP COLUMN full_name;
