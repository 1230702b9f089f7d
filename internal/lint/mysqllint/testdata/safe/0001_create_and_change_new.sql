-- fleetgate:up
# Everything done to a table created in the same migration is safe.
CREATE TABLE `invoices` (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  total DECIMAL(12,2) NOT NULL DEFAULT '0.00',
  note VARCHAR(200) NOT NULL DEFAULT 'it\'s; -- DROP TABLE users;'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
ALTER TABLE invoices ADD COLUMN state VARCHAR(20) NOT NULL;
ALTER TABLE invoices MODIFY COLUMN total DECIMAL(14,2) NOT NULL;
ALTER TABLE invoices ADD CONSTRAINT fk_invoices_user FOREIGN KEY (user_id) REFERENCES users (id);
CREATE INDEX idx_invoices_user ON invoices (user_id);
INSERT INTO invoices (user_id, state) VALUES (1, 'new');
UPDATE invoices SET state = 'open';
DELETE FROM invoices;
RENAME TABLE invoices TO bills;
DROP TABLE bills;
