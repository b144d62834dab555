#!/usr/bin/env bash
# Build every image of the compose mesh with podman, from the same Dockerfiles Docker users
# build, on the local debootstrap base (no registry needed). Prints each build's time.
# Run from the repository root with CONTAINERS_CONF set (see test-containers.sh).
set -euo pipefail
BASE=${MLOPS_BASE_IMAGE:-localhost/mlops-base:bookworm}
TAG=${MLOPS_IMAGE_TAG:-dev}
SERVICES=(gateway ingest feature trainer-gpu registry predictor monitor retrain-trigger)
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
  build "mlops-$service" "${torch_args[@]}" -f "services/$service/Dockerfile" .
done
build mlops-mlflow -f compose/mlflow/Dockerfile .
build mlops-tansu -f compose/podman/tansu/Dockerfile compose/podman/tansu
build mlops-postgres -f compose/podman/postgres/Dockerfile compose/podman/postgres
build mlops-redis -f compose/podman/redis/Dockerfile compose/podman/redis
