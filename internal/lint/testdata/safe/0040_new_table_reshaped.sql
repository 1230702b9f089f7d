-- fleetgate:up
-- Nobody else can use a table created in the same migration yet: rewriting
-- it, dropping its indexes or its NOT NULLs locks out no one.
CREATE TABLE audit_log (
    at timestamptz NOT NULL,
    actor text NOT NULL,
    detail text
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor);
ALTER TABLE audit_log
    ADD COLUMN id bigserial PRIMARY KEY,
    ADD COLUMN token uuid DEFAULT gen_random_uuid(),
    ALTER COLUMN actor DROP NOT NULL;
DROP INDEX audit_log_at;
DROP INDEX audit_log_actor;
