-- fleetgate:up
UPDATE accounts SET active = true;
