DROP TRIGGER products_updated_audit ON products;
