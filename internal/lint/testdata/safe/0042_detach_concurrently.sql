-- fleetgate:allow at-least-once-statement an interrupted detach is finished with DETACH PARTITION ... FINALIZE, not repeated
-- fleetgate:no-transaction
-- fleetgate:up
ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY;
-- Every table to empty named, so nothing else is emptied by surprise.
TRUNCATE staging_orders, staging_order_lines;
