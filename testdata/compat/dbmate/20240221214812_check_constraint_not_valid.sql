-- migrate:up
ALTER TABLE order_lines ADD CONSTRAINT order_lines_price_positive CHECK (unit_price > 0) NOT VALID;
ALTER TABLE order_lines VALIDATE CONSTRAINT order_lines_price_positive;

-- migrate:down
ALTER TABLE order_lines DROP CONSTRAINT order_lines_price_positive;
