BEGIN;
CREATE TABLE orders_archive (LIKE orders INCLUDING DEFAULTS);
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE;
INSERT INTO orders_archive SELECT * FROM orders WHERE closed_at < now() - interval '1 year';
COMMENT ON TABLE orders_archive IS 'closed orders; older than a year';
COMMIT;
