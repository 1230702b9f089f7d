-- fleetgate:up
DROP TABLE old_sessions;
