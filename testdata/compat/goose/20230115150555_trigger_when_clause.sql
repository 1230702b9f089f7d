-- trigger when clause
-- +goose Up
CREATE TRIGGER products_updated_audit AFTER UPDATE OF price ON products
  FOR EACH ROW WHEN (OLD.price IS DISTINCT FROM NEW.price)
  EXECUTE FUNCTION audit_row();

-- +goose Down
DROP TRIGGER products_updated_audit ON products;
