-- +goose Up
ALTER TABLE notes ADD COLUMN updated_at timestamptz;
CREATE TRIGGER notes_updated_at BEFORE UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- +goose Down
DROP TRIGGER notes_updated_at ON notes;
ALTER TABLE notes DROP COLUMN updated_at;
