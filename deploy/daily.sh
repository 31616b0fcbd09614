#!/bin/bash
# hubaudit's day, run by the CronJob hubaudit-daily (cronjob.yaml) from the ConfigMap
# hubaudit-config mounted at /etc/hubaudit. Needs hubaudit and kubectl on PATH (the image of
# deploy/Dockerfile), HUBAUDIT_DATASETS (ConfigMap hubaudit-env), the bucket credentials, and
# the ServiceAccount hubaudit-daily (rbac.yaml) to run the scan Job in this namespace.
#
# extract-hub and pull-counts here, then the sharded scan as the Indexed Job hubaudit-scan
# (scan-job.yaml, with today's date put in), then join and report once every shard is done.
# Exit 0 when the day is done (stages that were partial are named in the last line); hubaudit's
# own code when a stage failed; 4 when the scan Job failed or timed out; kubectl's when kubectl
# did.
set -euo pipefail

D=$(date -u +%F)
job_file=${HUBAUDIT_SCAN_JOB_FILE:-/etc/hubaudit/scan-job.yaml}
partial=()

log() { printf 'hubaudit-daily %s: %s\n' "$D" "$*" >&2; }

# hubaudit exits 1 when a stage finished and wrote its snapshot but some items failed (rows
# with their error, or refused names in warnings): go on, as `hubaudit run` does. Any other
# non-zero exit stops the day with that code.
stage() {
    local rc=0
    hubaudit "$@" || rc=$?
    case $rc in
        0) ;;
        1) log "hubaudit $1 finished partially (exit 1); going on"; partial+=("$1") ;;
        *) log "hubaudit $1 failed (exit $rc); stopping"; exit "$rc" ;;
    esac
}

stage extract-hub --datasets "$HUBAUDIT_DATASETS" --snapshot "$D"
stage pull-counts --datasets "$HUBAUDIT_DATASETS" --snapshot "$D"

# The Trivy server must be up (its first start downloads the DB), then one scan Job per day.
kubectl rollout status deployment/trivy-server --timeout=15m
kubectl delete job hubaudit-scan --ignore-not-found --wait --cascade=foreground
sed "s/SNAPSHOT_DATE/$D/" "$job_file" | kubectl apply -f -
log "job hubaudit-scan applied; waiting for it (at most 6 h)"

# Wait for Complete or Failed, whichever comes first (wait -n -p: bash 5.1 or later).
kubectl wait --for=condition=complete --timeout=6h job/hubaudit-scan >/dev/null &
complete=$!
kubectl wait --for=condition=failed --timeout=6h job/hubaudit-scan >/dev/null &
failed=$!
first='' rc=0
wait -n -p first "$complete" "$failed" || rc=$?
kill "$complete" "$failed" 2>/dev/null || true
if [[ $first == "$failed" && $rc == 0 ]]; then
    log "job hubaudit-scan FAILED; failed shards (JOB_COMPLETION_INDEX): $(kubectl get job hubaudit-scan -o 'jsonpath={.status.failedIndexes}' || true)"
    kubectl get pods -l job-name=hubaudit-scan >&2 || true
    log "join would refuse $D until every part is written: re-run the failed shards alone (README.md, "Running on Kubernetes"), then join and report $D"
    exit 4
elif [[ $first != "$complete" || $rc != 0 ]]; then
    log "job hubaudit-scan did not complete within 6 h, or could not be watched (kubectl wait exit $rc)"
    exit 4
fi
log "job hubaudit-scan complete"

stage join --datasets "$HUBAUDIT_DATASETS" --snapshot "$D"
stage report --datasets "$HUBAUDIT_DATASETS" --date "$D"
if ((${#partial[@]})); then
    log "done, partial stages: ${partial[*]} (their failures are recorded in the snapshot)"
else
    log "done"
fi
