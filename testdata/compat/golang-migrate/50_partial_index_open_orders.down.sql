DROP INDEX orders_open_idx;
ALTER TABLE orders DROP COLUMN closed_at;
