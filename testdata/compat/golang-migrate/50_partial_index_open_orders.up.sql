ALTER TABLE orders ADD COLUMN closed_at timestamptz;
CREATE INDEX orders_open_idx ON orders (placed_at) WHERE closed_at IS NULL;
