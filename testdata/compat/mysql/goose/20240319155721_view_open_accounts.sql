-- +goose Up
CREATE VIEW open_accounts AS SELECT id, email, created_at FROM accounts WHERE status = 'active';

-- +goose Down
DROP VIEW open_accounts;
