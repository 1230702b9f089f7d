-- +goose Up
CREATE DOMAIN email_address AS citext CHECK (VALUE ~ '^[^@;]+@[^@;]+$');
ALTER TABLE accounts ALTER COLUMN email TYPE email_address;

-- +goose Down
ALTER TABLE accounts ALTER COLUMN email TYPE citext;
DROP DOMAIN email_address;
