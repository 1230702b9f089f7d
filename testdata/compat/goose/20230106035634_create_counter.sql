-- +goose Up
CREATE TABLE counter (n integer NOT NULL);
INSERT INTO counter VALUES (0);

-- +goose Down
DROP TABLE counter;
