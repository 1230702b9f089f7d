DO $$
DECLARE
  i integer;
  t text;
BEGIN
  FOR i IN 1..3 LOOP
    t := format('events_%s', i);
    EXECUTE format('CREATE TABLE %I (id bigint NOT NULL, payload jsonb NOT NULL DEFAULT %L::jsonb, CONSTRAINT %I PRIMARY KEY (id))',
                   t, '{}', t || '_pkey');
  END LOOP;
  IF (SELECT count(*) FROM pg_class WHERE relname LIKE 'events\__' ESCAPE '\') <> 3 THEN
    RAISE EXCEPTION 'expected 3 event tables; found %', (SELECT count(*) FROM pg_class WHERE relname LIKE 'events\__' ESCAPE '\');
  END IF;
END
$$;
