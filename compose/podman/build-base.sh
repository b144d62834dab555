#!/usr/bin/env bash
# Build the local base image (Debian bookworm + Python 3.11) with debootstrap, once.
# It plays the role of python:3.11-slim where no registry can be reached; an image that
# already exists is kept (delete it with `podman rmi mlops-base:bookworm` to rebuild).
set -euo pipefail
IMAGE=${MLOPS_BASE_IMAGE:-localhost/mlops-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# `podman image exists`: 0 yes, 1 no, anything else is an error (bad podman config).
status=0; podman image exists "$IMAGE" || status=$?
if [ "$status" = 0 ]; then
  echo "base image $IMAGE exists (cached)"
  exit 0
elif [ "$status" != 1 ]; then
  echo "podman failed (exit $status): check CONTAINERS_CONF" >&2
  exit 1
fi
root=$(mktemp -d /var/tmp/mlops-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
# python3-venv: the images' build stage makes a virtual environment; ca-certificates: pip.
nice -n 19 debootstrap --variant=minbase \
  --include=python3,python3-venv,ca-certificates \
  bookworm "$root" "$MIRROR" >/dev/null
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/locale/*
# Same entry points as the official image: `python`, `pip` are not assumed; `python3` is.
tar -C "$root" -c . | podman import --quiet \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$IMAGE" >/dev/null
echo "base image $IMAGE built in $(( $(date +%s) - start )) s"
