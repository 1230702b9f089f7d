#!/bin/sh
# Pipeline step after run-migration.sh updated the service: wait until the
# deployment is done (the old tasks have stopped and, through fleetgate
# run, deregistered), then run the contract task (api-contract, the
# migrator's secret) and fail the pipeline unless it exited 0.
# Needs CLUSTER, SUBNETS (comma-separated) and SECURITY_GROUP, and
# run-task.sh beside it.
set -eu
. "$(dirname "$0")/run-task.sh"
aws ecs wait services-stable --cluster "$CLUSTER" --services api
# 1200 s >= the fleet wait (3 min) + the lock wait (3 min) + the longest
# migration (10 min) + 4 min to provision and pull.
run_task api-contract contract contract 1200 "the post-phase migrations were not applied"
