DROP INDEX accounts_created_at ON accounts;
