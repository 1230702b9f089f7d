#!/bin/sh
# AfterInstall: migrator credentials from SSM Parameter Store (the
# instance role may read /api/db/migrator-url; the app's unit never sees it).
set -eu
FLEETGATE_DATABASE_URL=$(aws ssm get-parameter --with-decryption --name /api/db/migrator-url \
  --query Parameter.Value --output text)
export FLEETGATE_DATABASE_URL
export FLEETGATE_TABLE=fleetgate.fleetgate_migrations
# CodeDeploy's DEPLOYMENT_ID is recorded as the deploy id.
exec /opt/api/bin/fleetgate up --dir /opt/api/migrations --timeout 10m
