-- fleetgate:up
ALTER TABLE users ENGINE=InnoDB, ALGORITHM=COPY;
