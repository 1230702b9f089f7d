-- fleetgate:up
LOCK TABLE refunds IN ROW EXCLUSIVE MODE;
INSERT INTO refunds (id, amount) VALUES (1, ROW(100, 'EUR'));
