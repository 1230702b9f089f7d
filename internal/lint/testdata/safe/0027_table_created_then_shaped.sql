-- fleetgate:up
CREATE TABLE invoices (id bigint PRIMARY KEY, order_id bigint, amount numeric(10,2));
ALTER TABLE invoices ALTER COLUMN amount TYPE numeric(12,2);
ALTER TABLE invoices ALTER COLUMN order_id SET NOT NULL;
ALTER TABLE invoices ADD COLUMN issued_at timestamptz NOT NULL;
ALTER TABLE invoices ADD CONSTRAINT invoices_order_fk FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE invoices ADD CONSTRAINT invoices_amount_pos CHECK (amount > 0);
CREATE INDEX invoices_order_idx ON invoices (order_id);
UPDATE invoices SET amount = 0;
DELETE FROM invoices;
