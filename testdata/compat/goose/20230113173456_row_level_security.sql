-- +goose Up
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_owner ON notes USING (account_id = nullif(current_setting('app.account_id', true), '')::bigint);

-- +goose Down
DROP POLICY notes_owner ON notes;
ALTER TABLE notes DISABLE ROW LEVEL SECURITY;
