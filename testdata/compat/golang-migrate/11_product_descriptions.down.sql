DELETE FROM products WHERE name = E'Widget\'s "deluxe"';
COMMENT ON TABLE products IS NULL;
