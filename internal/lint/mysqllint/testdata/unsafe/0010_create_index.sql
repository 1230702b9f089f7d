-- fleetgate:up
CREATE INDEX idx_created ON orders (created_at);
