#!/usr/bin/env bash
# Runs the fleetgate benchmark: installs the pinned peers, builds the harness
# (which builds fleetgate from this repo), starts a throwaway PostgreSQL and
# runs every scenario. See bench/README.md.
#
#   bench/run.sh [--quick] [--out DIR] [--tools fleetgate,goose,migrate,dbmate] [--scenarios ...] [--trials N]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/install-peers.sh"
(cd "$here" && GOWORK=off go build -o .bin/bench ./cmd/bench)
exec "$here/.bin/bench" --bench-dir "$here" "$@"
