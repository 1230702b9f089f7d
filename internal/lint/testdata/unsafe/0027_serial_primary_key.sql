-- fleetgate:up
ALTER TABLE legacy_events ADD COLUMN id bigserial PRIMARY KEY;
