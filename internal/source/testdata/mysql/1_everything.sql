-- fleetgate:up
# A MySQL migration using every lexical feature the splitter must know.
/*!40101 SET NAMES utf8mb4 */;
CREATE TABLE `order;s` (
  `id` INT NOT NULL AUTO_INCREMENT PRIMARY KEY, -- the key; really
  `note` VARCHAR(100) NOT NULL DEFAULT 'it\'s; fine', # comment; here
  `qty` INT NULL
) ENGINE=InnoDB;
INSERT INTO `order;s` (note, qty) VALUES ('a;b', 1--1), ("say \"hi;\"", 2);

-- golang-migrate and dbmate style: the server parses the body
CREATE TRIGGER order_qty BEFORE INSERT ON `order;s` FOR EACH ROW
BEGIN
  IF NEW.qty IS NULL THEN
    SET NEW.qty = 0;
  END IF;
  CASE WHEN NEW.qty < 0 THEN SET NEW.qty = 0; ELSE BEGIN END; END CASE;
END;

DELIMITER $$
CREATE PROCEDURE bump(IN n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  lbl: WHILE i < n DO
    UPDATE `order;s` SET qty = qty + 1 WHERE id = 1;
    SET i = i + 1;
  END WHILE lbl;
END$$
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC
BEGIN
  RETURN x * 2;
END $$
DELIMITER ;

/*M!100100 INSERT INTO `order;s` (note) VALUES ('mariadb only') */;
CALL bump(3);
