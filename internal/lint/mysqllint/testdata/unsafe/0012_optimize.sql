-- fleetgate:up
OPTIMIZE TABLE orders;
