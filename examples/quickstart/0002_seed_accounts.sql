-- A data migration: fleetgate applies it exactly once, however many
-- instances run `fleetgate up` at the same moment.

-- fleetgate:up
INSERT INTO accounts (id, email, balance) VALUES (1, 'ada@example.com', 100), (2, 'grace@example.com', 250);

-- fleetgate:down
DELETE FROM accounts WHERE id IN (1, 2);
