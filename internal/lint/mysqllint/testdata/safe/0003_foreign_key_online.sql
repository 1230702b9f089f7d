-- fleetgate:up
-- The recommended way: checked by a query first, then added without a copy.
SET foreign_key_checks = 0;
ALTER TABLE orders ADD CONSTRAINT fk_orders_user FOREIGN KEY (user_id) REFERENCES users (id), ALGORITHM=INPLACE, LOCK=NONE;
SET foreign_key_checks = 1;
