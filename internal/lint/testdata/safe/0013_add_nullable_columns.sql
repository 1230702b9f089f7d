-- fleetgate:up
ALTER TABLE users
    ADD COLUMN locale text,
    ADD COLUMN timezone text DEFAULT 'UTC',
    ADD COLUMN marketing_opt_in boolean NOT NULL DEFAULT false;
