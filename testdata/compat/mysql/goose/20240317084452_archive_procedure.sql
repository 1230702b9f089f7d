-- +goose Up
CREATE TABLE orders_archive LIKE orders;
-- +goose StatementBegin
CREATE PROCEDURE archive_orders(IN p_before DATETIME)
MODIFIES SQL DATA
BEGIN
  DECLARE done INT DEFAULT 0;
  WHILE done = 0 DO
    INSERT INTO orders_archive SELECT * FROM orders WHERE placed_at < p_before LIMIT 100;
    IF ROW_COUNT() = 0 THEN
      SET done = 1;
    ELSE
      DELETE FROM orders WHERE placed_at < p_before LIMIT 100;
    END IF;
  END WHILE;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE archive_orders;
DROP TABLE orders_archive;
