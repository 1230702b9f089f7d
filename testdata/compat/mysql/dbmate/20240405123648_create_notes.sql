-- migrate:up
CREATE TABLE notes (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id BIGINT UNSIGNED NOT NULL,
  body VARCHAR(2000) NULL,
  FULLTEXT KEY notes_body (body)
) ENGINE=InnoDB;
INSERT INTO notes (order_id, body) VALUES (1, 'first note'), (1, NULL);

-- migrate:down
DROP TABLE notes;
