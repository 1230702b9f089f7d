DROP VIEW open_accounts;
