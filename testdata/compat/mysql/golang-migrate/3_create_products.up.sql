CREATE TABLE products (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  sku VARCHAR(64) NOT NULL COMMENT 'stock keeping unit; unique per shop',
  name VARCHAR(200) NOT NULL,
  legacy_code CHAR(8) NULL,
  attrs JSON NULL,
  price_cents INT NOT NULL DEFAULT 0,
  price DECIMAL(12,2) AS (price_cents / 100) VIRTUAL,
  UNIQUE KEY products_sku (sku)
) ENGINE=InnoDB;
INSERT INTO products (sku, name, price_cents) VALUES ('A-1', 'it\'s a "widget"; really', 1999), ('B-2', 'back\\slash # not a comment', 500);
