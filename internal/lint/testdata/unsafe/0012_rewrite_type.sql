-- fleetgate:phase post
-- fleetgate:up
ALTER TABLE events ALTER COLUMN payload TYPE jsonb USING payload::jsonb;
