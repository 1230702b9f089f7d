-- +goose Up
UPDATE counter SET n = n + 1;

-- +goose Down
UPDATE counter SET n = n - 1;
