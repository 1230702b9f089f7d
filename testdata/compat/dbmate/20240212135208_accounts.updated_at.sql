-- migrate:up
ALTER TABLE accounts ADD COLUMN updated_at timestamptz;
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $migration$
BEGIN
  -- keep updated_at current; never trust the client's value
  NEW.updated_at := now();
  RETURN NEW;
END;
$migration$;
CREATE TRIGGER accounts_updated_at BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- migrate:down
DROP TRIGGER accounts_updated_at ON accounts;
DROP FUNCTION set_updated_at();
ALTER TABLE accounts DROP COLUMN updated_at;
