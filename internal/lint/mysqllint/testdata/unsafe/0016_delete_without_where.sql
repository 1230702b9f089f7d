-- fleetgate:up
DELETE FROM sessions;
