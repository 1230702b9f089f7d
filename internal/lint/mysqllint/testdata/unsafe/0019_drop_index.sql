-- fleetgate:up
DROP INDEX idx_old ON users;
