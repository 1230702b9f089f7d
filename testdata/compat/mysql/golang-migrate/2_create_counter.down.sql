DROP TABLE counter;
