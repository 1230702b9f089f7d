CREATE SCHEMA reporting;
CREATE VIEW reporting.daily_orders AS
  SELECT date_trunc('day', placed_at) AS day, count(*) AS orders
  FROM public.orders GROUP BY 1;
