-- fleetgate:up
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_owner ON orders USING (user_id = current_setting('app.user_id')::bigint);
