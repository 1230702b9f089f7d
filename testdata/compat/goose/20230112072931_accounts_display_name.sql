-- +goose Up
ALTER TABLE accounts ADD COLUMN display_name text GENERATED ALWAYS AS (split_part(email::text, '@', 1)) STORED;

-- +goose Down
ALTER TABLE accounts DROP COLUMN display_name;
