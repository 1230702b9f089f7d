-- fleetgate:up
-- fleetgate:allow nonexistent-rule because
SELECT 1;
