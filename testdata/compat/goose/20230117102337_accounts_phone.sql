-- +goose Up
ALTER TABLE accounts ADD COLUMN phone text;

-- +goose Down
ALTER TABLE accounts DROP COLUMN phone;
