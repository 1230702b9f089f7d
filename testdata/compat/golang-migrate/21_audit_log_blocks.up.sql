BEGIN;
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  table_name text NOT NULL,
  op text NOT NULL,
  row_data jsonb
);
COMMIT;
BEGIN;
CREATE FUNCTION audit_row() RETURNS trigger
LANGUAGE plpgsql AS $audit$
BEGIN
  INSERT INTO audit_log (table_name, op, row_data)
  VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(COALESCE(NEW, OLD)));
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END;
$audit$;
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON orders FOR EACH ROW EXECUTE FUNCTION audit_row();
END;
