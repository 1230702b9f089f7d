-- +goose Up
-- orders; placed by accounts; priced at the time of purchase
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id), -- owner; never null
  placed_at timestamptz NOT NULL DEFAULT now(),
  note text NOT NULL DEFAULT ''
);
CREATE INDEX orders_account_id_idx ON orders (account_id); -- lookups by owner; hot path

-- +goose Down
DROP TABLE orders;
