-- fleetgate:up
CREATE TABLE countries (code char(2) PRIMARY KEY, name text NOT NULL);
INSERT INTO countries (code, name) VALUES
    ('FR', 'France'),
    ('DE', 'Germany'),
    ('GB', 'United Kingdom; incl. ''quoted'' names');
UPDATE countries SET name = upper(name);
