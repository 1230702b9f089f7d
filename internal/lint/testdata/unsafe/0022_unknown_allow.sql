-- fleetgate:allow drop-colum typo in the rule name
-- fleetgate:up
ALTER TABLE users ADD COLUMN nickname text;
