#!/usr/bin/env bash
# The fault soak: N trials (default 1000) of a fleet of fleetgate runners
# migrating a mix of transactional and no-transaction migrations against a
# throwaway PostgreSQL while one random fault strikes at a random moment:
# kill -9, SIGSTOP past the lease, a server restart (as pg_ctl restart -m
# fast or -m immediate, at random), or a network blackhole. Each trial
# checks for a double apply, a half apply, a stuck lock and a runner that
# never finished (e2e/soak_test.go).
#
# Prints one line:
#   soak: trials=N violations=V (double=.. half=.. stuck=.. hung=..) slowest_recovery=Xs
# and exits non-zero on any violation (the full log's path then goes to
# stderr). Usage: scripts/soak.sh [--trials N] [--seed S]
set -euo pipefail
cd "$(dirname "$0")/.."

trials=1000
seed=""
usage() { echo "usage: scripts/soak.sh [--trials N] [--seed S]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--trials) [ $# -ge 2 ] || usage; trials=$2; shift 2 ;;
	--trials=*) trials=${1#*=}; shift ;;
	--seed) [ $# -ge 2 ] || usage; seed=$2; shift 2 ;;
	--seed=*) seed=${1#*=}; shift ;;
	-h | --help) usage ;;
	*) echo "scripts/soak.sh: unknown argument $1" >&2; usage ;;
	esac
done
case "$trials" in '' | *[!0-9]* | 0) echo "scripts/soak.sh: --trials must be a positive integer, not '$trials'" >&2; exit 2 ;; esac
case "$seed" in *[!0-9]*) echo "scripts/soak.sh: --seed must be a non-negative integer, not '$seed'" >&2; exit 2 ;; esac

work=$(mktemp -d)
log=$(mktemp "${TMPDIR:-/tmp}/fleetgate-soak-XXXXXX.log")
keep_log=0
cleanup() {
	rm -rf "$work"
	if [ "$keep_log" = 0 ]; then rm -f "$log"; fi
}
trap cleanup EXIT

go test -c -o "$work/e2e.test" ./e2e
rc=0
(
	cd e2e
	FLEETGATE_SOAK_TRIALS=$trials FLEETGATE_SOAK_SEED=$seed FLEETGATE_SOAK_REPORT=$work/line \
		"$work/e2e.test" -test.run '^TestSoak$' -test.count=1 -test.timeout=0 -test.v
) >"$log" 2>&1 || rc=$?

if [ -s "$work/line" ]; then
	cat "$work/line"
else
	echo "soak: trials=$trials did not complete"
	if [ "$rc" = 0 ]; then rc=1; fi
fi
if [ "$rc" != 0 ]; then
	keep_log=1
	echo "scripts/soak.sh: failed (exit $rc); log: $log" >&2
fi
exit "$rc"
