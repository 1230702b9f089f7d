-- fleetgate:up
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reporting') THEN
        CREATE ROLE reporting NOLOGIN;
    END IF;
END
$$;
GRANT SELECT ON users, orders TO reporting;
REVOKE ALL ON FUNCTION purge_demo() FROM PUBLIC;
