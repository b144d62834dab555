#!/usr/bin/env bash
# Build every image of the compose mesh with podman, from the same Dockerfiles Docker users
# build, on the local debootstrap base (no registry needed). Prints each build's time.
# Run from the repository root with CONTAINERS_CONF set (see test-containers.sh).
set -euo pipefail
BASE=${MLOPS_BASE_IMAGE:-localhost/mlops-base:bookworm}
TAG=${MLOPS_IMAGE_TAG:-dev}
SERVICES=(gateway ingest feature trainer-gpu registry predictor monitor retrain-trigger)
# Every service image is compose/images/Dockerfile with SERVICE=<name> and these build
# arguments, the ones docker-compose.yml passes (compose/tests checks that they agree and
# match each service's settings: env_prefix, http_port).
declare -A SERVICE_ARGS=(
  [gateway]="ENV_PREFIX=GATEWAY_ HTTP_PORT=8700"
  [ingest]="ENV_PREFIX=INGEST_ HTTP_PORT=8701"
  [feature]="ENV_PREFIX=FEATURE_ HTTP_PORT=8702"
  [trainer-gpu]="ENV_PREFIX=TRAINER_ HTTP_PORT=8703 NVIDIA_VISIBLE_DEVICES=all"
  [registry]="ENV_PREFIX=REGISTRY_ HTTP_PORT=8704"
  [predictor]="ENV_PREFIX=PREDICTOR_ HTTP_PORT=8710"
  [monitor]="ENV_PREFIX=MONITOR_ HTTP_PORT=8705"
  [retrain-trigger]="ENV_PREFIX=RETRAIN_TRIGGER_ HTTP_PORT=8706"
)
# pip inside the builds: the host's CA bundle, and this machine's local wheels, so that
# `torch==2.13.0` resolves to the CPU wheel on disk (see README: Dependencies). PyPI is
# then the only index: the CPU index of the Dockerfiles' default is not reachable here.
build_args=(--format docker --build-arg "BASE_IMAGE=$BASE")
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
  build_args+=(-v /etc/ssl/certs/ca-certificates.crt:/mnt/host-ca.crt:ro --build-arg PIP_CERT=/mnt/host-ca.crt)
fi
if [ -d "${MLOPS_LOCAL_WHEELS:-/opt/wheels}" ]; then
  build_args+=(-v "${MLOPS_LOCAL_WHEELS:-/opt/wheels}:/mnt/local-wheels:ro" --build-arg PIP_FIND_LINKS=/mnt/local-wheels)
fi
torch_args=(--build-arg TORCH_INDEX_URL=https://pypi.org/simple)

build() {  # build NAME [podman build arguments...]
  local name=$1 start
  shift
  start=$(date +%s)
  if ! nice -n 19 podman build "${build_args[@]}" "$@" -t "localhost/$name:$TAG" \
      > "var/containers/build-$name.log" 2>&1; then
    tail -n 30 "var/containers/build-$name.log" >&2
    echo "build of $name failed; full log: var/containers/build-$name.log" >&2
    return 1
  fi
  printf '  %-22s %4d s\n' "$name" $(( $(date +%s) - start ))
}

mkdir -p var/containers
echo "building images (logs in var/containers/build-*.log)"
for service in "${SERVICES[@]}"; do
  service_args=(--build-arg "SERVICE=$service")
  read -ra pairs <<<"${SERVICE_ARGS[$service]}"
  for pair in "${pairs[@]}"; do
    service_args+=(--build-arg "$pair")
  done
  build "mlops-$service" "${torch_args[@]}" "${service_args[@]}" -f compose/images/Dockerfile .
done
build mlops-mlflow -f compose/mlflow/Dockerfile .
build mlops-tansu -f compose/podman/tansu/Dockerfile compose/podman/tansu
build mlops-postgres -f compose/podman/postgres/Dockerfile compose/podman/postgres
build mlops-redis -f compose/podman/redis/Dockerfile compose/podman/redis
