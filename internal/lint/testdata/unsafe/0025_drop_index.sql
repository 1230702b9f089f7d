-- fleetgate:up
DROP INDEX IF EXISTS users_email_idx;
