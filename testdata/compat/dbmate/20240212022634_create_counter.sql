-- migrate:up
CREATE TABLE counter (n integer NOT NULL);
INSERT INTO counter VALUES (0);

-- migrate:down
DROP TABLE counter;
