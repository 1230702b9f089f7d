ALTER TABLE accounts ALTER COLUMN email TYPE citext;
DROP DOMAIN email_address;
