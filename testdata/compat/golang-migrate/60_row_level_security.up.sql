ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_owner ON notes USING (account_id = nullif(current_setting('app.account_id', true), '')::bigint);
