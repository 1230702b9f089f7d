#!/usr/bin/env bash
# The whole test suite: vet, the benchmark's quick smoke run (every tool's
# result verified against the database), then every package's tests against
# real PostgreSQL, PgBouncer, MariaDB and SQLite servers that the tests start
# themselves. Run scripts/setup.sh first on a fresh machine (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
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
bash bench/run.sh --quick --out "$(mktemp -d)"
go test -count=1 -timeout 25m ./...
