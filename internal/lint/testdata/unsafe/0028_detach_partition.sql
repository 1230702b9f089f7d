-- fleetgate:up
ALTER TABLE events DETACH PARTITION events_2019;
