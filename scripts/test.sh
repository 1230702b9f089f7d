#!/usr/bin/env bash
# The whole test suite: vet, the benchmark's quick smoke run (every tool's
# result verified against the database), then every package's tests against
# real PostgreSQL, PgBouncer, MariaDB and SQLite servers that the tests start
# themselves. Run scripts/setup.sh first on a fresh machine (as root).
#
# Everything temporary (build caches of the test binaries, the throwaway
# servers' data directories, the benchmark's output) goes into one private
# TMPDIR that is removed at the end, so a run leaves nothing behind in /tmp
# or in the tree (bench/.bin, the pinned peer tools, is gitignored and kept
# to save the next run their build).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="$(mktemp -d -t fleetgate-test.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
# The throwaway servers run as the postgres and mysql users when the suite
# runs as root: the private TMPDIR must serve them as /tmp does.
chmod 1777 "$scratch"
export TMPDIR="$scratch"
go vet ./...
# Without cgo (`go install` on a machine without a C compiler) the module
# must still build, and the checks run on the WebAssembly build of the
# parser: the lint corpus runs against it too (the run below uses the
# native one).
CGO_ENABLED=0 go build ./...
CGO_ENABLED=0 go vet ./internal/lint/...
CGO_ENABLED=0 go test -count=1 ./internal/lint/...
# The release binary links libpg_query statically; the script fails if the
# result is not one static file.
release=$(mktemp -d)
bash scripts/build-release.sh "$release/fleetgate" test
rm -rf "$release"
(cd bench && GOWORK=off go vet ./... && GOWORK=off go test -count=1 ./...)
(cd deploy && GOWORK=off go vet ./... && GOWORK=off go test -count=1 ./...)
bash bench/run.sh --quick --out "$scratch/bench"
go test -count=1 -timeout 25m ./...
# The fault soak, short: 50 random-fault trials, about 4 minutes on 2 cores
# (scripts/soak.sh runs 1000 by default).
bash scripts/soak.sh --trials 50
