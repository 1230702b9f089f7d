-- fleetgate:up
RENAME TABLE users TO accounts;
