ALTER TYPE account_tier ADD VALUE IF NOT EXISTS 'enterprise';
