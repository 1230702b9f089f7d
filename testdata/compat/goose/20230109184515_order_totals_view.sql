-- order totals view
-- +goose Up
CREATE VIEW order_totals AS
  SELECT o.id, o.account_id, order_total(o.id) AS total FROM orders o;

-- +goose Down
DROP VIEW order_totals;
