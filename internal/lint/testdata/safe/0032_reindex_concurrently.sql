-- fleetgate:no-transaction
-- fleetgate:up
REINDEX INDEX CONCURRENTLY orders_user_id_idx;
VACUUM (ANALYZE, VERBOSE) orders;
