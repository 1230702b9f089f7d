-- +goose Up
ALTER TABLE accounts ADD COLUMN updated_at timestamptz;
-- +goose StatementBegin
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $migration$
BEGIN
  -- keep updated_at current; never trust the client's value
  NEW.updated_at := now();
  RETURN NEW;
END;
$migration$;
-- +goose StatementEnd
CREATE TRIGGER accounts_updated_at BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- +goose Down
DROP TRIGGER accounts_updated_at ON accounts;
DROP FUNCTION set_updated_at();
ALTER TABLE accounts DROP COLUMN updated_at;
