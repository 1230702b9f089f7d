-- migrate:up
CREATE DOMAIN email_address AS citext CHECK (VALUE ~ '^[^@;]+@[^@;]+$');
ALTER TABLE accounts ALTER COLUMN email TYPE email_address;

-- migrate:down
ALTER TABLE accounts ALTER COLUMN email TYPE citext;
DROP DOMAIN email_address;
