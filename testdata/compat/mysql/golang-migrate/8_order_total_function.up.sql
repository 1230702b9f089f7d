CREATE FUNCTION order_total(p_order BIGINT UNSIGNED) RETURNS DECIMAL(12,2)
READS SQL DATA
BEGIN
  DECLARE v_total INT DEFAULT 0; -- cents; summed below
  SELECT COALESCE(SUM(total_cents), 0) INTO v_total FROM orders WHERE id = p_order;
  RETURN v_total / 100;
END;
