-- migrate:up
COMMENT ON TABLE products IS E'Products; the catalogue\'s heart';
UPDATE products SET description = E'Line one\nline two; still one statement' WHERE name = 'pro';
INSERT INTO products (name, description, price) VALUES (E'Widget\'s "deluxe"', E'tab\there', 12.50);

-- migrate:down
DELETE FROM products WHERE name = E'Widget\'s "deluxe"';
COMMENT ON TABLE products IS NULL;
