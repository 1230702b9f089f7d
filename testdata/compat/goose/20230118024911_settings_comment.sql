-- +goose Up
COMMENT ON COLUMN settings.value IS 'free text; may hold semicolons';

-- +goose Down
COMMENT ON COLUMN settings.value IS NULL;
