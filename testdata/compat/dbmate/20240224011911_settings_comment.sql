-- migrate:up
COMMENT ON COLUMN settings.value IS 'free text; may hold semicolons';

-- migrate:down
COMMENT ON COLUMN settings.value IS NULL;
