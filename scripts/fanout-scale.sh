#!/usr/bin/env bash
# The fan-out tests at the scale of issue 13: 200 tenant databases (one of
# them failing at migration 5; canary, then --keep-going) and 1,000 schemas,
# 10 migrations each, all exactly once, with the server's fleetgate
# sessions sampled from pg_stat_activity (at most 2 x --parallel). CI runs
# the same tests at 16 databases and 100 schemas (e2e/fanout_test.go);
# this takes several minutes on 2 cores.
#
# Usage: scripts/fanout-scale.sh [DATABASES [SCHEMAS]]   (default 200 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="$(mktemp -d -t fleetgate-fanout.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
chmod 1777 "$scratch"
export TMPDIR="$scratch"
FLEETGATE_FANOUT_DBS="${1:-200}" FLEETGATE_FANOUT_SCHEMAS="${2:-1000}" \
  go test -count=1 -timeout 60m -v -run 'TestFanOutTenantDatabases|TestFanOutSchemas$' ./e2e |
  grep -E '^(=== RUN|--- |ok|FAIL|PASS)|fanout_test.go'
