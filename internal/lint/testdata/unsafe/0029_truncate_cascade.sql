-- fleetgate:up
TRUNCATE TABLE accounts CASCADE;
