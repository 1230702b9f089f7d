#!/bin/sh
# A pipeline step without Helm or Argo CD: migrate, then roll out; a
# failed migration stops here and the Deployment is not changed.
set -eu
job=job/api-migrate-1-4-0
kubectl apply -f migrate-job.yaml
# The Job ends by itself within activeDeadlineSeconds (1200 s); 1260 s
# only guards against a pipeline that cannot reach the cluster.
deadline=$(( $(date +%s) + 1260 ))
while :; do
  done_=$(kubectl get "$job" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')
  failed=$(kubectl get "$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')
  [ "$done_" = True ] && break
  if [ "$failed" = True ] || [ "$(date +%s)" -ge "$deadline" ]; then
    kubectl logs "$job" --tail=50 >&2 || true
    echo "migration failed: the Deployment was not changed" >&2
    exit 1
  fi
  sleep 5
done
kubectl apply -f deployment-wait.yaml
# 1560 s > progressDeadlineSeconds (1500): kubectl reports the
# Deployment's own verdict.
kubectl rollout status deployment/api --timeout=1560s
