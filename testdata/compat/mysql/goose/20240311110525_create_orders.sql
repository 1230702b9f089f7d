-- +goose Up
-- orders; the total is kept in cents; never negative
CREATE TABLE orders (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account_id BIGINT UNSIGNED NOT NULL, -- the buyer; see accounts
  total_cents INT NOT NULL DEFAULT 0 COMMENT 'in cents; \'never\' negative',
  placed_at DATETIME(3) NULL,
  note TEXT,
  KEY orders_account (account_id),
  CONSTRAINT orders_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE,
  CONSTRAINT orders_total_positive CHECK (total_cents >= 0)
) ENGINE=InnoDB;

-- +goose Down
DROP TABLE orders;
