-- migrate:up
CREATE SEQUENCE coupon_code_seq START 1000 INCREMENT 7;
CREATE TABLE coupons (
  code text PRIMARY KEY DEFAULT 'C' || nextval('coupon_code_seq'),
  percent smallint NOT NULL CHECK (percent BETWEEN 1 AND 100),
  expires_on date
);
ALTER SEQUENCE coupon_code_seq OWNED BY coupons.code;

-- migrate:down
DROP TABLE coupons;
