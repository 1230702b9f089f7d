-- fleetgate:up
-- fleetgate:allow optimize-table the table is tiny and idle during deploys
OPTIMIZE TABLE feature_flags;
