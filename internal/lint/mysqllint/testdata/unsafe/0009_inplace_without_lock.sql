-- fleetgate:up
ALTER TABLE users ADD INDEX idx_email (email), ALGORITHM=INPLACE;
