-- fleetgate:up
CREATE TABLE user_stats AS SELECT user_id, count(*) AS n FROM orders GROUP BY user_id;
CREATE INDEX user_stats_n ON user_stats (n);
ALTER TABLE user_stats ADD PRIMARY KEY (user_id);
