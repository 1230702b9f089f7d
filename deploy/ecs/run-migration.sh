#!/bin/sh
# Pipeline step: run the migration task (its own task definition, so its
# own command and secrets), wait until it has STOPPED, and fail the deploy
# unless the migrate container exited 0. Then update the service.
# Needs CLUSTER, SUBNETS (comma-separated) and SECURITY_GROUP.
set -eu
task=$(aws ecs run-task --cluster "$CLUSTER" --task-definition api-migrate \
  --launch-type FARGATE --started-by pipeline \
  --network-configuration "awsvpcConfiguration={subnets=[$SUBNETS],securityGroups=[$SECURITY_GROUP],assignPublicIp=DISABLED}" \
  --query 'tasks[0].taskArn' --output text)
if [ -z "$task" ] || [ "$task" = None ]; then
  echo "the migration task did not start" >&2
  exit 1
fi
# 1200 s = fleetgate's lock wait (5 min) + the longest migration (10 min)
# + 5 min to provision and pull. `aws ecs wait tasks-stopped` gives up
# after 10 minutes, hence the loop.
deadline=$(( $(date +%s) + 1200 ))
while [ "$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" --query 'tasks[0].lastStatus' --output text)" != STOPPED ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    aws ecs stop-task --cluster "$CLUSTER" --task "$task" --reason "migration deadline" >/dev/null
    echo "migration task $task ran past its deadline; stopped" >&2
    exit 1
  fi
  sleep 10
done
code=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" \
  --query 'tasks[0].containers[?name==`migrate`].exitCode | [0]' --output text)
if [ "$code" != 0 ]; then
  reason=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" --query 'tasks[0].stoppedReason' --output text)
  echo "migration task $task failed: exit code $code ($reason); the service was not updated" >&2
  exit 1
fi
aws ecs update-service --cluster "$CLUSTER" --service api --task-definition api
