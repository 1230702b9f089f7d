-- fleetgate:up
ALTER TABLE users ADD COLUMN display_name text;

DO $backfill$
DECLARE
    batch int := 0;
BEGIN
    LOOP
        UPDATE users SET display_name = coalesce(name, split_part(email, '@', 1))
        WHERE id IN (SELECT id FROM users WHERE display_name IS NULL LIMIT 1000);
        EXIT WHEN NOT FOUND;
        batch := batch + 1;
        RAISE NOTICE 'batch % done; no DELETE FROM users here', batch;
    END LOOP;
END
$backfill$;

-- fleetgate:down
ALTER TABLE users DROP COLUMN display_name;
