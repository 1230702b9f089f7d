-- fleetgate:up
-- Constant and STABLE defaults are evaluated once and kept in the catalog
-- (PostgreSQL 11+): no rewrite, however large the table.
ALTER TABLE orders
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN placed_on date DEFAULT CURRENT_DATE,
    ADD COLUMN flags text[] NOT NULL DEFAULT '{}'::text[],
    ADD COLUMN meta jsonb DEFAULT jsonb_build_object('schema', 2),
    ADD COLUMN region text DEFAULT current_setting('app.region', true);
-- A volatile default only for rows written from now on: no rewrite.
ALTER TABLE orders ADD COLUMN public_id uuid;
ALTER TABLE orders ALTER COLUMN public_id SET DEFAULT gen_random_uuid();
