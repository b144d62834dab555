#!/usr/bin/env bash
# `make test-containers`: the compose mesh, really built and run on this machine with podman
# (no Docker engine, no registry). Installs what it needs, builds the debootstrap base once,
# builds every image (the services' from compose/images/Dockerfile), runs docker-compose.yml
# + the podman override with podman-compose, smoke-tests it through the published ports, and
# always tears it down.
# Run from the repository root. Heavy steps run under `nice -n 19` (shared machine).
set -euo pipefail

ROOT=$(pwd)
STATE=$ROOT/var/containers
PROJECT=mlops-test
COMPOSE=(podman-compose -p "$PROJECT" -f compose/docker-compose.yml -f compose/podman/docker-compose.podman.yml)
# What runs here: everything but Prometheus and Grafana (their images cannot be had here).
MESH=(kafka postgres redis mlflow registry feature ingest trainer-gpu predictor-1 predictor-2
      monitor retrain-trigger gateway)
T0=$(date +%s)
mkdir -p "$STATE"
stamp() { printf '[%4d s] %s\n' $(( $(date +%s) - T0 )) "$*"; }

# ---- tools (idempotent: apt-get only when something is missing) ---------------------------
missing=()
for package in podman podman-compose debootstrap runc; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  stamp "installing ${missing[*]}"
  [ "$(id -u)" = 0 ] || { echo "run as root or install: ${missing[*]}" >&2; exit 1; }
  nice -n 19 apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}" >"$STATE/apt.log" 2>&1 || {
    apt-get update -q >>"$STATE/apt.log" 2>&1
    nice -n 19 apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}" >>"$STATE/apt.log" 2>&1
  }
fi

# ---- podman configuration: a file of ours, /etc untouched (shared/BROKER.md) ---------------
sed "s/@NOFILE@/$(ulimit -Hn)/g" compose/podman/containers.conf.in >"$STATE/containers.conf"
export CONTAINERS_CONF=$STATE/containers.conf

# ---- images -------------------------------------------------------------------------------
stamp "base image"
compose/podman/build-base.sh
stamp "service and stand-in images"
compose/podman/build-images.sh
stamp "images built"

# ---- the mesh -----------------------------------------------------------------------------
# Random secrets for this run only, from the environment (podman-compose substitutes them).
secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
export POSTGRES_PASSWORD=$(secret) REDIS_PASSWORD=$(secret) GRAFANA_ADMIN_PASSWORD=$(secret)
export GATEWAY_API_TOKEN=$(secret) INGEST_API_TOKEN=$(secret) RETRAIN_TRIGGER_API_TOKEN=$(secret)
# Host ports away from the embedded mesh's (8700+, 19092), which may run beside this.
PORT_BASE=${MLOPS_TEST_PORT_BASE:-28700}
export GATEWAY_HOST_PORT=$PORT_BASE INGEST_HOST_PORT=$((PORT_BASE + 1))
export FEATURE_HOST_PORT=$((PORT_BASE + 2)) TRAINER_HOST_PORT=$((PORT_BASE + 3))
export REGISTRY_HOST_PORT=$((PORT_BASE + 4)) MONITOR_HOST_PORT=$((PORT_BASE + 5))
export RETRAIN_TRIGGER_HOST_PORT=$((PORT_BASE + 6)) PREDICTOR_1_HOST_PORT=$((PORT_BASE + 10))
export PREDICTOR_2_HOST_PORT=$((PORT_BASE + 11)) MLFLOW_HOST_PORT=$((PORT_BASE + 20))
export KAFKA_HOST_PORT=$((PORT_BASE + 30)) TANSU_HOST_PORT=$((PORT_BASE + 31))
export POSTGRES_HOST_PORT=$((PORT_BASE + 32))
LOG=$STATE/compose.log
: >"$LOG"

teardown() {
  local status=$?
  set +e
  stamp "collecting logs and tearing down (exit $status)"
  for name in "${MESH[@]}" topics; do
    podman logs "${PROJECT}_${name}_1" >"$STATE/log-$name.log" 2>&1
  done
  "${COMPOSE[@]}" down -v -t 45 >>"$LOG" 2>&1
  podman volume rm -f "${PROJECT}_feature-store" >/dev/null 2>&1
  stamp "done: $([ $status = 0 ] && echo PASSED || echo "FAILED (logs: var/containers/log-*.log)")"
}
trap teardown EXIT

# The compose files as podman-compose reads them: parse, merge, interpolate (no engine call).
stamp "compose files: base, + podman override, + GPU override"
for extra in "" compose/podman/docker-compose.podman.yml compose/docker-compose.gpu.yml; do
  podman-compose --dry-run -p "$PROJECT" -f compose/docker-compose.yml ${extra:+-f "$extra"} \
    up -d --no-build >"$STATE/dry-run.log" 2>&1 || { cat "$STATE/dry-run.log" >&2; exit 1; }
  grep -q "^podman run --name=${PROJECT}_gateway_1 " "$STATE/dry-run.log"
done

"${COMPOSE[@]}" down -v -t 5 >>"$LOG" 2>&1 || true
# The feature store volume is shared by four services that run as uid 10001.
podman volume create "${PROJECT}_feature-store" >/dev/null
chown 10001:10001 "$(podman volume inspect -f '{{.Mountpoint}}' "${PROJECT}_feature-store")"

# podman-compose 1.0.3 neither waits for `condition: service_healthy` nor runs healthchecks
# without systemd, so the order is kept here and each HEALTHCHECK is run by hand.
wait_healthy() {  # wait_healthy SERVICE TIMEOUT_S
  local deadline=$(( $(date +%s) + $2 ))
  until podman healthcheck run "${PROJECT}_$1_1" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$1 not healthy within $2 s" >&2
      podman logs --tail 30 "${PROJECT}_$1_1" >&2
      return 1
    fi
    sleep 2
  done
}

stamp "datastores and broker"
nice -n 19 "${COMPOSE[@]}" up -d postgres redis kafka >>"$LOG" 2>&1
wait_healthy postgres 120
wait_healthy redis 60
wait_healthy kafka 60
stamp "topics"
nice -n 19 "${COMPOSE[@]}" up -d topics >>"$LOG" 2>&1
status=$(podman wait "${PROJECT}_topics_1")
podman logs "${PROJECT}_topics_1"
[ "$status" = 0 ] || { echo "topics job failed (exit $status)" >&2; exit 1; }
stamp "MLflow"
nice -n 19 "${COMPOSE[@]}" up -d mlflow >>"$LOG" 2>&1
wait_healthy mlflow 180
stamp "services"
nice -n 19 "${COMPOSE[@]}" up -d "${MESH[@]}" >>"$LOG" 2>&1
for name in registry feature ingest trainer-gpu monitor retrain-trigger gateway; do
  wait_healthy "$name" 300
done
stamp "mesh up: $(podman ps --filter "name=${PROJECT}_" --format '{{.Names}}' | wc -l) containers"

# ---- checks -------------------------------------------------------------------------------
stamp "every container runs as non-root"
for name in "${MESH[@]}"; do
  uid=$(podman exec "${PROJECT}_${name}_1" id -u)
  printf '  %-16s uid %s\n' "$name" "$uid"
  [ "$uid" != 0 ] || { echo "$name runs as root" >&2; exit 1; }
done

stamp "smoke test through the published ports"
nice -n 19 .venv/bin/python compose/smoke.py --port-base "$PORT_BASE" \
  --mlflow-port "$MLFLOW_HOST_PORT" --kafka "127.0.0.1:$TANSU_HOST_PORT" --kafka-alias kafka:9092 \
  --customers "${MLOPS_TEST_CUSTOMERS:-1000}" --history-days "${MLOPS_TEST_HISTORY_DAYS:-30}"

stamp "graceful stop: SIGTERM to predictor-2 drains and exits 0"
podman stop -t 45 "${PROJECT}_predictor-2_1" >/dev/null
code=$(podman inspect -f '{{.State.ExitCode}}' "${PROJECT}_predictor-2_1")
podman logs --tail 5 "${PROJECT}_predictor-2_1" 2>&1 | cut -c1-200
[ "$code" = 0 ] || { echo "predictor-2 exited $code on SIGTERM" >&2; exit 1; }

stamp "image sizes"
podman images --filter reference='localhost/mlops-*' --format '  {{.Repository}}:{{.Tag}} {{.Size}}'
