-- product slugs
-- +goose Up
ALTER TABLE products ADD COLUMN slug text;
-- +goose StatementBegin
DO $backfill$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN SELECT id FROM products WHERE slug IS NULL ORDER BY id LOOP
    UPDATE products SET slug = 'product-' || r.id WHERE id = r.id;
    n := n + 1;
  END LOOP;
  RAISE NOTICE 'backfilled % slugs; done', n;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'duplicate slug while backfilling: %', SQLERRM;
END
$backfill$;
-- +goose StatementEnd
ALTER TABLE products ALTER COLUMN slug SET NOT NULL;
ALTER TABLE products ADD CONSTRAINT products_slug_key UNIQUE (slug);

-- +goose Down
ALTER TABLE products DROP COLUMN slug;
