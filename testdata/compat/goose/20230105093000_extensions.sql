-- extensions
-- +goose Up
CREATE EXTENSION IF NOT EXISTS pgcrypto; CREATE EXTENSION IF NOT EXISTS citext;

-- +goose Down
DROP EXTENSION citext;
DROP EXTENSION pgcrypto;
