DROP INDEX accounts_display_name ON accounts;
ALTER TABLE accounts DROP COLUMN display_name;
