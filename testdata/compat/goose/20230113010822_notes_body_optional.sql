-- +goose Up
ALTER TABLE notes ALTER COLUMN body DROP NOT NULL;

-- +goose Down
-- fails while any note has no body: fill them in first
ALTER TABLE notes ALTER COLUMN body SET NOT NULL;
