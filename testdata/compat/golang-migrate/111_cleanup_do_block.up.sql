DO $cleanup$
BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
             WHERE table_name = 'products' AND column_name = 'description' AND is_nullable = 'YES') THEN
    UPDATE products SET description = '' WHERE description IS NULL;
    ALTER TABLE products ALTER COLUMN description SET DEFAULT '';
  END IF;
END
$cleanup$;
