DO $$
DECLARE
  i integer;
BEGIN
  FOR i IN REVERSE 3..1 LOOP
    EXECUTE format('DROP TABLE %I', 'events_' || i);
  END LOOP;
END
$$;
