ALTER TABLE order_lines DROP CONSTRAINT order_lines_price_positive;
