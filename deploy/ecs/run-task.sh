#!/bin/sh
# Sourced by run-migration.sh and run-contract.sh (not run on its own).
# run_task FAMILY CONTAINER WHAT DEADLINE NOT_DONE runs the one-off Fargate
# task FAMILY, waits until it has STOPPED, stops it after DEADLINE seconds,
# and exits 1 unless its container CONTAINER exited 0. WHAT names it in
# messages; NOT_DONE says what the pipeline did not do because it failed.
# Needs CLUSTER, SUBNETS (comma-separated) and SECURITY_GROUP.
set -eu
run_task() {
  family=$1 container=$2 what=$3 deadline=$(( $(date +%s) + $4 )) not_done=$5
  task=$(aws ecs run-task --cluster "$CLUSTER" --task-definition "$family" \
    --launch-type FARGATE --started-by pipeline \
    --network-configuration "awsvpcConfiguration={subnets=[$SUBNETS],securityGroups=[$SECURITY_GROUP],assignPublicIp=DISABLED}" \
    --query 'tasks[0].taskArn' --output text)
  if [ -z "$task" ] || [ "$task" = None ]; then
    echo "the $what task did not start" >&2
    exit 1
  fi
  # `aws ecs wait tasks-stopped` gives up after 10 minutes, hence the loop.
  while [ "$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" --query 'tasks[0].lastStatus' --output text)" != STOPPED ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      aws ecs stop-task --cluster "$CLUSTER" --task "$task" --reason "$what deadline" >/dev/null
      echo "$what task $task ran past its deadline; stopped" >&2
      exit 1
    fi
    sleep 10
  done
  code=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" \
    --query "tasks[0].containers[?name==\`$container\`].exitCode | [0]" --output text)
  if [ "$code" != 0 ]; then
    reason=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" --query 'tasks[0].stoppedReason' --output text)
    echo "$what task $task failed: exit code $code ($reason); $not_done" >&2
    exit 1
  fi
}
