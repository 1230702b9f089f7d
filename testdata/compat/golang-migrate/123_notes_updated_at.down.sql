DROP TRIGGER notes_updated_at ON notes;
ALTER TABLE notes DROP COLUMN updated_at;
