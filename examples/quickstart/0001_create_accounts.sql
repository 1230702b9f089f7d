-- fleetgate:up
CREATE TABLE accounts (
    id      integer PRIMARY KEY,
    email   text NOT NULL UNIQUE,
    balance integer NOT NULL DEFAULT 0
);

-- fleetgate:down
DROP TABLE accounts;
