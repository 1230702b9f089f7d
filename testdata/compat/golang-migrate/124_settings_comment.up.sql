COMMENT ON COLUMN settings.value IS 'free text; may hold semicolons';
