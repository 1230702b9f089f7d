-- migrate:up
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS citext;

-- migrate:down
DROP EXTENSION citext;
DROP EXTENSION pgcrypto;
