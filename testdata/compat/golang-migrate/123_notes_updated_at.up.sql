ALTER TABLE notes ADD COLUMN updated_at timestamptz;
CREATE TRIGGER notes_updated_at BEFORE UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION set_updated_at();
