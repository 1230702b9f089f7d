CREATE TABLE settings (
  k VARCHAR(64) NOT NULL PRIMARY KEY,
  v VARCHAR(255) NOT NULL
) ENGINE=InnoDB;
INSERT INTO settings (k, v) VALUES ('greeting', 'hello; \"world\"'), ('path', 'C:\\temp');
/*!80000 SET @unused = 1 */;
