-- +goose Up
ALTER TYPE account_tier ADD VALUE IF NOT EXISTS 'enterprise';

-- +goose Down
ALTER TABLE accounts ALTER COLUMN tier DROP DEFAULT;
ALTER TYPE account_tier RENAME TO account_tier_old;
CREATE TYPE account_tier AS ENUM ('free', 'team');
ALTER TABLE accounts ALTER COLUMN tier TYPE account_tier USING tier::text::account_tier;
ALTER TABLE accounts ALTER COLUMN tier SET DEFAULT 'free';
DROP TYPE account_tier_old;
