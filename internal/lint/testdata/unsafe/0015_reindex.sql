-- fleetgate:up
REINDEX TABLE users;
