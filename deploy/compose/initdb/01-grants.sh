#!/bin/sh
# Run by the postgres image on an empty data directory, as postgres.
set -eu
psql -v ON_ERROR_STOP=1 --username postgres --dbname api \
  -v migrator_password="$MIGRATOR_PASSWORD" -v app_password="$APP_PASSWORD" \
  -f /fleetgate/grants.sql
