-- migrate:up
ALTER TABLE accounts ADD COLUMN display_name VARCHAR(100) NULL, ALGORITHM=INSTANT;
UPDATE accounts SET display_name = SUBSTRING_INDEX(email, '@', 1) WHERE display_name IS NULL;
CREATE INDEX accounts_display_name ON accounts (display_name) ALGORITHM=INPLACE LOCK=NONE;

-- migrate:down
DROP INDEX accounts_display_name ON accounts;
ALTER TABLE accounts DROP COLUMN display_name;
