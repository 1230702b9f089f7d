UPDATE accounts SET status = 'closed' WHERE false;
CREATE VIEW open_accounts AS
  SELECT id, created_at FROM accounts WHERE status <> 'closed';
