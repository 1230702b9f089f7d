-- fleetgate:up
-- The new value is used by the next migration, after this one commits.
ALTER TYPE order_channel ADD VALUE IF NOT EXISTS 'partner' AFTER 'mobile';
