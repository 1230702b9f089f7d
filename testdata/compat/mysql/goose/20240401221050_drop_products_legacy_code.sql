-- +goose Up
ALTER TABLE products DROP COLUMN legacy_code, ALGORITHM=INPLACE, LOCK=NONE;

-- +goose Down
ALTER TABLE products ADD COLUMN legacy_code CHAR(8) NULL;
