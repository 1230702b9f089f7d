-- fleetgate:up
CLUSTER users USING users_pkey;
