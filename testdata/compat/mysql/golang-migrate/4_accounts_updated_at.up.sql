ALTER TABLE accounts ADD COLUMN updated_at DATETIME NULL, ALGORITHM=INSTANT;
CREATE TRIGGER accounts_updated_at BEFORE UPDATE ON accounts FOR EACH ROW
BEGIN
  -- keep updated_at current; never trust the client's value
  IF NEW.email <> OLD.email THEN
    SET NEW.email = LOWER(NEW.email);
  END IF;
  SET NEW.updated_at = NOW();
END;
