-- fleetgate:up
CREATE OR REPLACE VIEW active_users AS
    SELECT u.id, u.email, count(o.id) AS orders
    FROM users u LEFT JOIN orders o ON o.user_id = u.id
    WHERE u.created_at > now() - interval '90 days'
    GROUP BY u.id, u.email;

CREATE MATERIALIZED VIEW order_totals AS
    SELECT user_id, sum(total_cents) AS cents FROM orders GROUP BY user_id
    WITH NO DATA;

-- fleetgate:down
DROP MATERIALIZED VIEW order_totals;
DROP VIEW active_users;
