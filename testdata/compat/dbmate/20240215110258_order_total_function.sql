-- migrate:up
CREATE FUNCTION order_total(p_order bigint) RETURNS numeric
LANGUAGE plpgsql STABLE AS $body$
DECLARE
  total numeric := 0;
  line record;
BEGIN
  FOR line IN SELECT quantity, unit_price FROM order_lines WHERE order_id = p_order LOOP
    total := total + line.quantity * line.unit_price;
  END LOOP;
  RETURN total; -- never NULL; an empty order costs 0
END;
$body$;

-- migrate:down
DROP FUNCTION order_total(bigint);
