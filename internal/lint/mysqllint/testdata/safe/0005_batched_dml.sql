-- fleetgate:up
UPDATE users SET plan = 'free' WHERE plan IS NULL LIMIT 1000;
DELETE FROM sessions WHERE expires_at < NOW() - INTERVAL 30 DAY LIMIT 1000;
INSERT INTO settings (k, v) VALUES ('x', '1') ON DUPLICATE KEY UPDATE v = VALUES(v);
/*!40101 SET NAMES utf8mb4 */;
