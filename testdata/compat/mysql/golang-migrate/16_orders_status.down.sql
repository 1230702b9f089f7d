ALTER TABLE orders DROP INDEX orders_status_placed;
ALTER TABLE orders DROP COLUMN status;
