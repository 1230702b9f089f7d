-- fleetgate:up
ALTER TABLE orders
    ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN total_cents bigint GENERATED ALWAYS AS (total * 100) STORED;
