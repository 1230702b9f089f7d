ALTER TYPE account_status RENAME TO account_status_old;
CREATE TYPE account_status AS ENUM ('active', 'suspended');
ALTER TABLE accounts ALTER COLUMN status DROP DEFAULT;
ALTER TABLE accounts ALTER COLUMN status TYPE account_status USING status::text::account_status;
ALTER TABLE accounts ALTER COLUMN status SET DEFAULT 'active';
DROP TYPE account_status_old;
