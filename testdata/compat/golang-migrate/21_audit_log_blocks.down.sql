DROP TRIGGER orders_audit ON orders;
DROP FUNCTION audit_row();
DROP TABLE audit_log;
