-- fleetgate:no-transaction
-- fleetgate:up
CREATE UNIQUE INDEX CONCURRENTLY coupons_code_lower_key ON coupons (lower(code));
ALTER TABLE coupons ADD CONSTRAINT coupons_code_lower_uniq UNIQUE USING INDEX coupons_code_lower_key;
