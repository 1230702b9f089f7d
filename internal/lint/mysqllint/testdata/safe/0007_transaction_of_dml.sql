-- fleetgate:up
START TRANSACTION;
INSERT INTO audit (what) VALUES ('plans');
UPDATE users SET plan = 'pro' WHERE id IN (SELECT user_id FROM subscriptions);
CREATE TEMPORARY TABLE tmp_ids (id BIGINT);
COMMIT;
