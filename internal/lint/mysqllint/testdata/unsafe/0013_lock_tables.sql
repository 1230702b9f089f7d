-- fleetgate:up
LOCK TABLES orders WRITE;
UPDATE orders SET total = 0 WHERE id = 1;
UNLOCK TABLES;
