-- +goose Up
-- the legacy codes were migrated to the ERP; nothing reads them any more
ALTER TABLE products DROP COLUMN legacy_code;
