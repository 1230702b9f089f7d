-- fleetgate:phase post
-- fleetgate:up
DROP TABLE IF EXISTS old_sessions;
