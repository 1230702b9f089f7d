-- fleetgate:up
CREATE TYPE order_channel AS ENUM ('web', 'mobile');
ALTER TABLE orders ADD COLUMN channel order_channel;

-- fleetgate:down
ALTER TABLE orders DROP COLUMN channel;
DROP TYPE order_channel;
