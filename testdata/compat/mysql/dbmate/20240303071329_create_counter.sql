-- migrate:up
CREATE TABLE counter (n INT NOT NULL) ENGINE=InnoDB;
INSERT INTO counter VALUES (0);

-- migrate:down
DROP TABLE counter;
