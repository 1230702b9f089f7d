-- fleetgate:up
UPDATE users SET flags = 0;
