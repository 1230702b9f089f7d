-- fleetgate:up
ALTER TABLE users ADD COLUMN;
