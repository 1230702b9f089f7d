#!/bin/sh
# Pipeline step after run-migration.sh updated the service: wait until the
# deployment is done (the old tasks have stopped and, through fleetgate
# run, deregistered), then run the contract task (api-contract, the
# migrator's secret) and fail the pipeline unless it exited 0.
# Needs CLUSTER, SUBNETS (comma-separated) and SECURITY_GROUP.
set -eu
aws ecs wait services-stable --cluster "$CLUSTER" --services api
task=$(aws ecs run-task --cluster "$CLUSTER" --task-definition api-contract \
  --launch-type FARGATE --started-by pipeline \
  --network-configuration "awsvpcConfiguration={subnets=[$SUBNETS],securityGroups=[$SECURITY_GROUP],assignPublicIp=DISABLED}" \
  --query 'tasks[0].taskArn' --output text)
if [ -z "$task" ] || [ "$task" = None ]; then
  echo "the contract task did not start" >&2
  exit 1
fi
# 1200 s >= the fleet wait (3 min) + the lock wait (3 min) + the longest
# migration (10 min) + 4 min to provision and pull.
deadline=$(( $(date +%s) + 1200 ))
while [ "$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" --query 'tasks[0].lastStatus' --output text)" != STOPPED ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    aws ecs stop-task --cluster "$CLUSTER" --task "$task" --reason "contract deadline" >/dev/null
    echo "contract task $task ran past its deadline; stopped" >&2
    exit 1
  fi
  sleep 10
done
code=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" \
  --query 'tasks[0].containers[?name==`contract`].exitCode | [0]' --output text)
if [ "$code" != 0 ]; then
  reason=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" --query 'tasks[0].stoppedReason' --output text)
  echo "contract task $task failed: exit code $code ($reason); the post-phase migrations were not applied" >&2
  exit 1
fi
