#!/usr/bin/env bash
# new-env.sh EXAMPLE TARGET: write TARGET from EXAMPLE with a fresh random value for every
# `generate-me`, readable by its owner only. An existing TARGET is kept as it is.
set -euo pipefail
example=$1 target=$2
if [ -e "$target" ]; then
  exit 0
fi
umask 077
while IFS= read -r line; do
  if [[ $line == *=generate-me ]]; then
    line="${line%generate-me}$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  fi
  printf '%s\n' "$line"
done <"$example" >"$target"
echo "wrote $target with generated secrets (kept across runs; delete it to regenerate)"
