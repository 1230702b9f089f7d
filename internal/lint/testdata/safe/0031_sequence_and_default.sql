-- fleetgate:up
CREATE SEQUENCE invoice_numbers START 1000;
ALTER TABLE invoices ALTER COLUMN id SET DEFAULT nextval('invoice_numbers');
ALTER SEQUENCE invoice_numbers OWNED BY invoices.id;
