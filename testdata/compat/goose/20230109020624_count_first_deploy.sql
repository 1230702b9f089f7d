-- +goose Up
UPDATE counter SET n = n + 1;

-- +goose Down
