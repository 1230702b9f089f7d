-- partial index open orders
-- +goose Up
ALTER TABLE orders ADD COLUMN closed_at timestamptz;
CREATE INDEX orders_open_idx ON orders (placed_at) WHERE closed_at IS NULL;

-- +goose Down
DROP INDEX orders_open_idx;
ALTER TABLE orders DROP COLUMN closed_at;
