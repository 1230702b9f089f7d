-- migrate:up
CREATE FUNCTION account_count() RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM accounts; $$;
GRANT SELECT ON open_accounts TO PUBLIC;
GRANT EXECUTE ON FUNCTION account_count() TO PUBLIC;

-- migrate:down
REVOKE SELECT ON open_accounts FROM PUBLIC;
DROP FUNCTION account_count();
