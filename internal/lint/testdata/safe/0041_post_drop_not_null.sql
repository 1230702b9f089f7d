-- fleetgate:phase post
-- fleetgate:up
-- Every release still running reads NULL in users.nickname; the next one
-- may write it.
ALTER TABLE users ALTER COLUMN nickname DROP NOT NULL;
