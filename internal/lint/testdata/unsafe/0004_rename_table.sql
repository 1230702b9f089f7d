-- fleetgate:up
ALTER TABLE users RENAME TO accounts;
