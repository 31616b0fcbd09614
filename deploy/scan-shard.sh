#!/usr/bin/env bash
# Prints the scan Job for ONE shard of one snapshot, to re-run a failed shard alone:
#   deploy/scan-shard.sh 2026-12-02 2 | kubectl apply -f -
# It is scan-job.yaml with the date put in, named hubaudit-scan-DATE-shard-I, one pod, and
# HUBAUDIT_SHARD=I/N (N = JOB_COMPLETIONS of scan-job.yaml), which hubaudit scan takes as
# --shard I/N. The shard replaces only its own part of each partition; then join and report
# the date (README.md, "Running on Kubernetes"). Needs only kubectl (patch --local works without a cluster).
set -euo pipefail

usage() { echo "usage: $0 YYYY-MM-DD INDEX   (INDEX as JOB_COMPLETION_INDEX: 0 .. JOB_COMPLETIONS-1)" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
date=$1 index=$2
[[ $date =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || usage
[[ $index =~ ^[0-9]+$ ]] || usage

job=$(dirname "$0")/scan-job.yaml
# The value on the line after "- name: JOB_COMPLETIONS".
count=$(sed -n '/- name: JOB_COMPLETIONS$/{n;s/^ *value: "\([0-9]*\)".*/\1/p;}' "$job")
[[ -n $count ]] || { echo "$0: no JOB_COMPLETIONS value found in $job" >&2; exit 3; }
((index < count)) || { echo "$0: INDEX $index is not below JOB_COMPLETIONS $count" >&2; exit 2; }

sed "s/SNAPSHOT_DATE/$date/" "$job" | "${KUBECTL:-kubectl}" patch --local -f - --type=json -o yaml -p "[
  {\"op\": \"replace\", \"path\": \"/metadata/name\", \"value\": \"hubaudit-scan-$date-shard-$index\"},
  {\"op\": \"replace\", \"path\": \"/spec/completions\", \"value\": 1},
  {\"op\": \"replace\", \"path\": \"/spec/parallelism\", \"value\": 1},
  {\"op\": \"add\", \"path\": \"/spec/template/spec/containers/0/env/-\",
   \"value\": {\"name\": \"HUBAUDIT_SHARD\", \"value\": \"$index/$count\"}}
]"
