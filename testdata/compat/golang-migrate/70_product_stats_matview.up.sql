CREATE MATERIALIZED VIEW product_stats AS
  SELECT p.id, count(l.order_id) AS orders
  FROM products p LEFT JOIN order_lines l ON l.product_id = p.id
  GROUP BY p.id;
CREATE UNIQUE INDEX product_stats_id_idx ON product_stats (id);
