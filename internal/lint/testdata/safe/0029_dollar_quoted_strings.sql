-- fleetgate:up
INSERT INTO countries (code, name) VALUES ('XX', $$Nowhere; DROP TABLE users; -- not SQL$$);
SELECT set_config('app.note', $tag$ALTER TABLE users DROP COLUMN email$tag$, false);
