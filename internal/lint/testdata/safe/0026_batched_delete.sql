-- fleetgate:up
WITH doomed AS (
    SELECT id FROM orders WHERE status = 'new' AND placed_at < now() - interval '2 years' LIMIT 5000
)
DELETE FROM orders o USING doomed d WHERE o.id = d.id;
