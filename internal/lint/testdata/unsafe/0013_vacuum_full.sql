-- fleetgate:no-transaction
-- fleetgate:up
VACUUM FULL users;
