ALTER TABLE accounts DROP COLUMN tier;
DROP TYPE account_tier;
