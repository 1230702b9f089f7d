CREATE VIEW open_accounts AS SELECT id, email, created_at FROM accounts WHERE status = 'active';
