-- +goose Up
CREATE TABLE counter (n INT NOT NULL) ENGINE=InnoDB;
INSERT INTO counter VALUES (0);

-- +goose Down
DROP TABLE counter;
