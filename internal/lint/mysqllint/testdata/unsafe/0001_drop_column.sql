-- fleetgate:up
ALTER TABLE users DROP COLUMN legacy, ALGORITHM=INSTANT;
