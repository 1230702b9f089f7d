-- fleetgate:up
ALTER TABLE users
    ADD COLUMN tier text NOT NULL;
