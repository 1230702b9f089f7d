#!/bin/sh
# Wake-up latency of waiting instances: the 20-waiter, one-at-a-time,
# SQLite-polling and 100-waiter benchmarks, direct and through PgBouncer.
# Results (p50/p99
# from commit to app start, connections held) are appended to
# ${FLEETGATE_RESULTS:-wake-results.txt}. The 20-waiter and one-at-a-time
# lines break each wake-up into its steps (woken by the notification,
# schema ready, command started, registered, app's first instruction,
# memory released; from the waiters' FLEETGATE_LOG_LEVEL=debug lines)
# and each waiter's own spans between them (re-read, exec, own-start);
# the one-at-a-time line also has the app's start alone, spawned by the
# test, the floor of any waiter.
# With FLEETGATE_WAKE_BASE=/path/to/an/older/fleetgate those two also run
# that binary, round by round beside this tree's, for paired numbers on a
# shared machine; FLEETGATE_WAKE_ROUNDS sets the one-at-a-time rounds
# (default 12).
set -eu
cd "$(dirname "$0")/.."
export FLEETGATE_RESULTS="${FLEETGATE_RESULTS:-$PWD/wake-results.txt}"
go test ./e2e -count=1 -run '^$' -bench 'WaitOnlyLatency|WaitSQLitePoll' -benchtime 1x -v | grep -E 'wait-latency|Benchmark|^(ok|FAIL|---)' || true
go test ./e2e -count=1 -run '^$' -bench 'Wake100' -benchtime 1x | grep -E 'Benchmark|^(ok|FAIL)'
echo "results: $FLEETGATE_RESULTS"
tail -n 4 "$FLEETGATE_RESULTS"
