#!/usr/bin/env bash
# The classic manual flow of getting an app onto kind, as a person types it: the baseline of the cold-start
# row of the benchmark (bench/run.ts runs it with the same fake tools and latencies as `devkube up`).
#
#   bench/manual-flow.sh APP_DIR NAME LOCAL_PORT [docker build args...]
#
# APP_DIR holds the app and its Dockerfile; NAME names the cluster's namespace, image and Deployment. The script
# ends once http://127.0.0.1:LOCAL_PORT/ answers, stops its port-forward and exits 0 (non-zero when a step fails).
set -euo pipefail

app_dir="$1"
name="$2"
local_port="$3"
shift 3
cluster="${MANUAL_CLUSTER:-manual}"
image="manual.local/${name}:v1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

kind create cluster --name "$cluster"
kubectl create namespace "$name"
docker build -t "$image" "$@" "$app_dir"
kind load docker-image "$image" --name "$cluster"
sed -e "s|@APP@|${name}|g" -e "s|@IMAGE@|${image}|g" "$here/manual/app.yaml" | kubectl apply -n "$name" -f -
kubectl rollout status "deployment/$name" -n "$name" --timeout=120s

kubectl port-forward "svc/$name" "${local_port}:8080" -n "$name" >/dev/null &
forward_pid=$!
trap 'kill "$forward_pid" 2>/dev/null || true; wait "$forward_pid" 2>/dev/null || true' EXIT

# Bounded: 60 s of tries, 0.1 s apart.
for _ in $(seq 600); do
  if curl -fs --max-time 2 "http://127.0.0.1:${local_port}/"; then
    echo
    exit 0
  fi
  sleep 0.1
done
echo "manual flow: http://127.0.0.1:${local_port}/ did not answer within 60 s" >&2
exit 1
