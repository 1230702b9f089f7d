-- fleetgate:phase post
-- fleetgate:allow drop-column every live instance reads full_name when the fleet gate lets this run
-- fleetgate:up
UPDATE people SET full_name = name WHERE full_name IS NULL;
ALTER TABLE people DROP COLUMN name;
-- fleetgate:down
ALTER TABLE people ADD COLUMN name text;
UPDATE people SET name = full_name;
