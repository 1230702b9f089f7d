DROP VIEW reporting.daily_orders;
DROP SCHEMA reporting;
