#!/bin/sh
# Pipeline step: run the migration task (its own task definition, so its
# own command and secrets), wait until it has STOPPED, and fail the deploy
# unless the migrate container exited 0. Then update the service.
# Needs CLUSTER, SUBNETS (comma-separated) and SECURITY_GROUP, and
# run-task.sh beside it.
set -eu
. "$(dirname "$0")/run-task.sh"
# 1200 s = fleetgate's lock wait (5 min) + the longest migration (10 min)
# + 5 min to provision and pull.
run_task api-migrate migrate migration 1200 "the service was not updated"
aws ecs update-service --cluster "$CLUSTER" --service api --task-definition api
