-- fleetgate:up
CREATE TABLE coupons (id bigint PRIMARY KEY, code text NOT NULL UNIQUE);
ALTER TABLE orders ADD COLUMN coupon_id bigint;
ALTER TABLE orders ADD CONSTRAINT orders_coupon_fk FOREIGN KEY (coupon_id) REFERENCES coupons (id) NOT VALID;

-- fleetgate:down
ALTER TABLE orders DROP COLUMN coupon_id;
DROP TABLE coupons;
