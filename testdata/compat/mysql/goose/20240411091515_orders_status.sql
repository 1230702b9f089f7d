-- +goose Up
ALTER TABLE orders ADD COLUMN status VARCHAR(16) NOT NULL DEFAULT 'new', ALGORITHM=INSTANT;
ALTER TABLE orders ADD INDEX orders_status_placed (status, placed_at), ALGORITHM=INPLACE, LOCK=NONE;

-- +goose Down
ALTER TABLE orders DROP INDEX orders_status_placed;
ALTER TABLE orders DROP COLUMN status;
