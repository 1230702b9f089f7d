-- migrate:up
CREATE TYPE account_status AS ENUM ('active', 'suspended');
CREATE TABLE accounts (
  id bigserial PRIMARY KEY,
  email citext NOT NULL UNIQUE,
  status account_status NOT NULL DEFAULT 'active',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- migrate:down
DROP TABLE accounts;
DROP TYPE account_status;
