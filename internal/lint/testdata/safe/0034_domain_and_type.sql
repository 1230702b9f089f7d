-- fleetgate:up
CREATE DOMAIN email_address AS text CHECK (VALUE ~ '^[^@]+@[^@]+$');
CREATE TYPE money_amount AS (cents bigint, currency char(3));
CREATE TABLE refunds (id bigint PRIMARY KEY, amount money_amount NOT NULL, contact email_address);
