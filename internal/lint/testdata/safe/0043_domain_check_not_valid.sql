-- fleetgate:up
-- Values written from now on are checked; no existing column is scanned and
-- no table is locked.
ALTER DOMAIN posint ADD CONSTRAINT posint_positive CHECK (VALUE > 0) NOT VALID;
