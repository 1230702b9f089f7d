-- migrate:up
ALTER TABLE orders ADD COLUMN closed_at timestamptz;
CREATE INDEX orders_open_idx ON orders (placed_at) WHERE closed_at IS NULL;

-- migrate:down
DROP INDEX orders_open_idx;
ALTER TABLE orders DROP COLUMN closed_at;
