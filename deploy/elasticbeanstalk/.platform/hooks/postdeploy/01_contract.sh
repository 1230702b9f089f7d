#!/bin/sh
# .platform/hooks/postdeploy/01_contract.sh (chmod +x): the contract step,
# on every instance once its new version runs. The server must register
# (Migrator.Register, or fleetgate run --wait-only in front of it), or the
# gate cannot see the old instances.
set -eu
FLEETGATE_DATABASE_URL=$(aws secretsmanager get-secret-value --secret-id api-db-migrator \
  --query SecretString --output text)
export FLEETGATE_DATABASE_URL
export FLEETGATE_TABLE=fleetgate.fleetgate_migrations
# Exit 3: live instances of an older build still run (this is not the
# last batch) or another instance holds the lock; a later instance's hook
# applies the contract. Every other failure fails the hook.
status=0
/var/app/current/bin/fleetgate up --phase post --dir /var/app/current/migrations --timeout 2m || status=$?
if [ "$status" -eq 3 ]; then
  echo "contract deferred: old instances still run; a later instance applies it" >&2
  exit 0
fi
exit "$status"
