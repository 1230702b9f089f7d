DROP PROCEDURE archive_orders;
DROP TABLE orders_archive;
