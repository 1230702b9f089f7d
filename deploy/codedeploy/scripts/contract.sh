#!/bin/sh
# ValidateService, after validate.sh (with a load balancer, AfterAllowTraffic
# works the same): the contract step, on every instance. The servers must
# register (api-wait.service: fleetgate run --wait-only), or the gate
# cannot see the old ones. Migrator credentials from SSM, as in migrate.sh.
set -eu
FLEETGATE_DATABASE_URL=$(aws ssm get-parameter --with-decryption --name /api/db/migrator-url \
  --query Parameter.Value --output text)
export FLEETGATE_DATABASE_URL
export FLEETGATE_TABLE=fleetgate.fleetgate_migrations
# Exit 3: live instances of an older build still run (this is not the
# last batch) or another instance holds the lock; a later instance's hook
# applies the contract. Every other failure fails the hook.
status=0
/opt/api/bin/fleetgate up --phase post --dir /opt/api/migrations --timeout 2m || status=$?
if [ "$status" -eq 3 ]; then
  echo "contract deferred: old instances still run; a later instance applies it" >&2
  exit 0
fi
exit "$status"
