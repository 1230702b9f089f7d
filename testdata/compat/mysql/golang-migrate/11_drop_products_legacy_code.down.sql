ALTER TABLE products ADD COLUMN legacy_code CHAR(8) NULL;
