DROP TRIGGER accounts_updated_at;
ALTER TABLE accounts DROP COLUMN updated_at;
