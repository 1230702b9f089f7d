-- fleetgate:up
CREATE TABLE people (id bigserial PRIMARY KEY, name text);
-- fleetgate:down
DROP TABLE people;
