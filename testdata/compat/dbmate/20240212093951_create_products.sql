-- migrate:up transaction:false
BEGIN;
CREATE TABLE products (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  description text,
  legacy_code text,
  price numeric(12,2) NOT NULL CHECK (price >= 0)
);
INSERT INTO products (name, price) VALUES ('starter', 0), ('pro', 49.00);
COMMIT;

-- migrate:down transaction:false
BEGIN;
DROP TABLE products;
COMMIT;
