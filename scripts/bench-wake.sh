#!/bin/sh
# Wake-up latency of waiting instances: the 20-waiter, one-at-a-time,
# SQLite-polling and 100-waiter benchmarks, direct and through PgBouncer.
# Results (p50/p99
# from commit to app start, connections held) are appended to
# ${FLEETGATE_RESULTS:-wake-results.txt}.
set -eu
cd "$(dirname "$0")/.."
export FLEETGATE_RESULTS="${FLEETGATE_RESULTS:-$PWD/wake-results.txt}"
go test ./e2e -count=1 -run '^$' -bench 'WaitOnlyLatency|WaitSQLitePoll' -benchtime 1x -v | grep -E 'wait-latency|Benchmark|^(ok|FAIL|---)' || true
go test ./e2e -count=1 -run '^$' -bench 'Wake100' -benchtime 1x | grep -E 'Benchmark|^(ok|FAIL)'
echo "results: $FLEETGATE_RESULTS"
tail -n 4 "$FLEETGATE_RESULTS"
