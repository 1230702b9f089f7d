CREATE TABLE counter (n integer NOT NULL);
INSERT INTO counter VALUES (0);
