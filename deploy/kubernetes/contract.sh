#!/bin/sh
# After deploy.sh: the rollout is done, so only draining pods of the old
# ReplicaSet can still run old code, and the Job waits for them itself.
# A failed contract fails the pipeline; the new release keeps serving.
set -eu
job=job/api-contract-1-5-0
kubectl apply -f contract-job.yaml
# The Job ends by itself within activeDeadlineSeconds (1200 s); 1260 s
# only guards against a pipeline that cannot reach the cluster.
deadline=$(( $(date +%s) + 1260 ))
while :; do
  done_=$(kubectl get "$job" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')
  failed=$(kubectl get "$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')
  [ "$done_" = True ] && break
  if [ "$failed" = True ] || [ "$(date +%s)" -ge "$deadline" ]; then
    kubectl logs "$job" --tail=50 >&2 || true
    echo "contract failed: the post-phase migrations were not applied; the release keeps serving" >&2
    exit 1
  fi
  sleep 5
done
