#!/usr/bin/env bash
# The whole test suite: vet, the benchmark's quick smoke run (every tool's
# result verified against the database), then every package's tests against
# real PostgreSQL, PgBouncer, MariaDB and SQLite servers that the tests start
# themselves. Run scripts/setup.sh first on a fresh machine (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
(cd bench && GOWORK=off go vet ./... && GOWORK=off go test -count=1 ./...)
(cd deploy && GOWORK=off go vet ./... && GOWORK=off go test -count=1 ./...)
bash bench/run.sh --quick --out "$(mktemp -d)"
go test -count=1 -timeout 25m ./...
# The fault soak, short: 50 random-fault trials, about 4 minutes on 2 cores
# (scripts/soak.sh runs 1000 by default).
bash scripts/soak.sh --trials 50
