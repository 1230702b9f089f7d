-- fleetgate:allow drop-column nothing has read legacy since release 41
-- fleetgate:up
ALTER TABLE users DROP COLUMN legacy;
