#!/bin/sh
# The contract step with Compose: roll out, then apply the post-phase
# migrations with migrate's image and credentials. `up --wait` returns once
# the new api containers are healthy; the old ones were stopped (and
# deregistered) on the way, so the fleet gate finds no old build.
set -eu
docker compose up -d --wait
docker compose run --rm --no-deps migrate \
  fleetgate up --phase post --dir /app/migrations --timeout 3m
