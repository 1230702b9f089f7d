-- migrate:up
CREATE VIEW order_totals AS
  SELECT o.id, o.account_id, order_total(o.id) AS total FROM orders o;

-- migrate:down
DROP VIEW order_totals;
