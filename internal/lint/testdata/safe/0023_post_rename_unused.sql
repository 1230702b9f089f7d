-- fleetgate:phase post
-- fleetgate:up
ALTER TABLE orders RENAME COLUMN note TO notes;
