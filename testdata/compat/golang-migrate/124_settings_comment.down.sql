COMMENT ON COLUMN settings.value IS NULL;
