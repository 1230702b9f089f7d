-- Roles and grants for split credentials on PostgreSQL, run once as an
-- administrator before the first deploy, in the app's database:
--   psql -v ON_ERROR_STOP=1 -v migrator_password=... -v app_password=... -d api -f grants.sql
-- api_migrator owns the schema and runs `fleetgate up`; api_app is the
-- application's role and is enough for `fleetgate wait` / `run --wait-only`.
-- Passwords: use URL-safe ones (e.g. openssl rand -hex 24), or URL-encode
-- them where they go into a postgres:// URL.
CREATE ROLE api_migrator LOGIN PASSWORD :'migrator_password';
CREATE ROLE api_app LOGIN PASSWORD :'app_password';
GRANT CONNECT ON DATABASE :"DBNAME" TO api_migrator, api_app;
-- fleetgate runs CREATE SCHEMA IF NOT EXISTS for its own schema, which
-- PostgreSQL checks against this privilege even when the schema exists.
GRANT CREATE ON DATABASE :"DBNAME" TO api_migrator;

-- The app's tables: created by migrations (as api_migrator), read and
-- written by the app. The default privileges make every table and sequence
-- api_migrator creates later usable by api_app at once, so the first
-- deploy needs no grant after the fact.
GRANT USAGE, CREATE ON SCHEMA public TO api_migrator;
GRANT USAGE ON SCHEMA public TO api_app;
ALTER DEFAULT PRIVILEGES FOR ROLE api_migrator IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO api_app;
ALTER DEFAULT PRIVILEGES FOR ROLE api_migrator IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO api_app;

-- fleetgate's own tables (FLEETGATE_TABLE=fleetgate.fleetgate_migrations:
-- fleetgate_migrations, fleetgate_events, fleetgate_lock) in a schema of
-- their own, where the app may only read: enough to wait, and to name the
-- lock holder, but never to write the history.
CREATE SCHEMA fleetgate AUTHORIZATION api_migrator;
GRANT USAGE ON SCHEMA fleetgate TO api_app;
ALTER DEFAULT PRIVILEGES FOR ROLE api_migrator IN SCHEMA fleetgate
  GRANT SELECT ON TABLES TO api_app;

-- The instance registry, fleetgate_instances: every instance that starts
-- through `fleetgate run` or `wait` records its build there (and removes
-- itself when it stops), so that `up --phase post` waits until no old code
-- runs. The app writes this one table; it is created here, with the same
-- columns fleetgate creates it with, so that the grant can name it before
-- the first deploy. Without the grant the app still runs, reported as
-- "unregistered", and post-phase migrations cannot see it.
CREATE TABLE IF NOT EXISTS fleetgate.fleetgate_instances (
  instance_id text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  deploy_id text NOT NULL,
  build text NOT NULL,
  versions text NOT NULL,
  max_version bigint NOT NULL,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_seen timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER TABLE fleetgate.fleetgate_instances OWNER TO api_migrator;
GRANT SELECT, INSERT, UPDATE, DELETE ON fleetgate.fleetgate_instances TO api_app;
