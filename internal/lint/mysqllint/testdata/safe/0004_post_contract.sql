-- fleetgate:up
-- fleetgate:phase post
ALTER TABLE users DROP COLUMN legacy, ALGORITHM=INSTANT;
ALTER TABLE users RENAME COLUMN nick TO nickname, ALGORITHM=INSTANT;
DROP TABLE old_sessions;
