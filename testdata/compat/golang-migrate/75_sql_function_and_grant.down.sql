REVOKE SELECT ON open_accounts FROM PUBLIC;
DROP FUNCTION account_count();
