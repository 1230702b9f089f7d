-- migrate:up
UPDATE counter SET n = n + 1;

-- migrate:down
UPDATE counter SET n = n - 1;
