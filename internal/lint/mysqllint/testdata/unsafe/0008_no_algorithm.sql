-- fleetgate:up
ALTER TABLE users ADD COLUMN bio TEXT NULL;
