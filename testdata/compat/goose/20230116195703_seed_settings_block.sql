-- +goose NO TRANSACTION
-- +goose Up
START TRANSACTION;
CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO settings VALUES ('support_email', 'help@example.com'), ('motd', E'Welcome!\nSemicolons; inside; strings');
END;

-- +goose Down
DROP TABLE settings;
