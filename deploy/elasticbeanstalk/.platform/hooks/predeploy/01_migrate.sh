#!/bin/sh
# .platform/hooks/predeploy/01_migrate.sh (chmod +x): runs on every
# instance before the new version replaces the old one; exit non-zero and
# the deployment fails.
# The migrator's URL comes from Secrets Manager, not from the environment
# properties, which the app would also see.
set -eu
FLEETGATE_DATABASE_URL=$(aws secretsmanager get-secret-value --secret-id api-db-migrator \
  --query SecretString --output text)
export FLEETGATE_DATABASE_URL
export FLEETGATE_TABLE=fleetgate.fleetgate_migrations
# --timeout 10m bounds the lock wait: with the longest migration (10 min)
# that stays under the command timeout (1800 s, .ebextensions/deploy.config).
exec /var/app/staging/bin/fleetgate up --dir /var/app/staging/migrations --timeout 10m
