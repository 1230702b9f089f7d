-- fleetgate:up
/*
 * History: we used to run
 *   ALTER TABLE orders DROP COLUMN status;
 *   CREATE INDEX orders_x ON orders (x);
 *   VACUUM FULL orders;
 * which locked production for an hour. Do not do that again.
 */
ALTER TABLE orders ADD COLUMN note text; -- was: ALTER TABLE orders RENAME COLUMN n TO note;
COMMENT ON COLUMN orders.note IS 'free text; LOCK TABLE orders is never needed';
