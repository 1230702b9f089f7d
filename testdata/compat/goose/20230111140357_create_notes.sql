-- +goose Up
CREATE TABLE notes (
  id bigserial PRIMARY KEY,
  account_id bigint REFERENCES accounts (id),
  body text NOT NULL
);

-- +goose Down
DROP TABLE notes;
