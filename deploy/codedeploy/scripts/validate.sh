#!/bin/sh
# ValidateService: fail the deployment (and stop the rolling batches)
# unless the server answers within 100 s.
set -eu
i=0
until curl -fsS http://localhost:8080/healthz >/dev/null; do
  i=$((i + 1))
  [ "$i" -lt 50 ] || exit 1
  sleep 2
done
