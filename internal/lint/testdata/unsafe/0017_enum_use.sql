-- fleetgate:up
ALTER TYPE mood ADD VALUE 'ecstatic';
UPDATE people SET mood = 'ecstatic' WHERE mood = 'happy';
