-- fleetgate:up
-- Users of the application. Note: never DROP TABLE users; old code reads it.
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    name text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
COMMENT ON TABLE users IS 'people who can log in; DELETE FROM users is forbidden';

-- fleetgate:down
DROP TABLE users;
