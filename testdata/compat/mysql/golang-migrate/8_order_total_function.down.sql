DROP FUNCTION order_total;
