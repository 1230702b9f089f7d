-- migrate:up
CREATE TYPE account_tier AS ENUM ('free', 'team');
ALTER TABLE accounts ADD COLUMN tier account_tier NOT NULL DEFAULT 'free';

-- migrate:down
ALTER TABLE accounts DROP COLUMN tier;
DROP TYPE account_tier;
