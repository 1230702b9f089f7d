-- migrate:up
ALTER TABLE products DROP COLUMN legacy_code, ALGORITHM=INPLACE, LOCK=NONE;

-- migrate:down
ALTER TABLE products ADD COLUMN legacy_code CHAR(8) NULL;
