"""Validate every overlay without a cluster: ``python k8s/validate.py`` (make k8s-validate).

For each folder of k8s/overlays/: render it with ``kubectl kustomize``, then check every
object against the Kubernetes and CRD schemas, the security and reliability policy, the
network paths, the Kafka topics, users and lag scaling against the contracts' topic
catalogue, and each mesh container's environment against its service's settings. Also checks
that the generated base/kafka/*.yaml match the catalogue. Prints one line per overlay and
every finding; exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from generate import stale_files
from mesh_manifests.kafka_access import check_lag_scaling, check_topics, check_users
from mesh_manifests.network import check_network
from mesh_manifests.objects import Finding, Manifest
from mesh_manifests.policy import check_policy
from mesh_manifests.render import K8S_DIR, RenderError, overlays, render
from mesh_manifests.schema import validate_objects
from mesh_manifests.service_settings import check_settings

CHECKS: dict[str, Callable[[list[Manifest], bool], list[Finding]]] = {
    "schema": lambda objects, dev: validate_objects(objects),
    "policy": lambda objects, dev: check_policy(objects, dev=dev),
    "network": lambda objects, dev: check_network(objects),
    "kafka": lambda objects, dev: (
        check_topics(objects) + check_users(objects) + check_lag_scaling(objects)
    ),
}
"""Each check over an overlay's objects (``dev``: the overlay may render Secrets)."""


@dataclass
class OverlayResult:
    """What validating one overlay found."""

    name: str
    objects: int = 0
    findings: list[Finding] = field(default_factory=list)
    assumed: set[str] = field(default_factory=set)
    seconds: float = 0.0


def validate_overlay(path: Path) -> OverlayResult:
    """Render one overlay and run every check on it."""
    started = time.monotonic()
    result = OverlayResult(path.name)
    try:
        objects = render(path)
    except RenderError as error:
        result.findings.append(Finding("render", path.name, str(error)))
        return result
    result.objects = len(objects)
    dev = path.name == "dev"
    for check in CHECKS.values():
        result.findings.extend(check(objects, dev))
    settings = check_settings(objects)
    result.findings.extend(settings.findings)
    result.assumed = settings.assumed
    result.seconds = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> int:
    """Validate every overlay (or the named ones); print a summary; 0 when all pass."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overlay", nargs="*", help="overlay names (default: all)")
    args = parser.parse_args(argv)
    paths = [p for p in overlays() if not args.overlay or p.name in args.overlay]
    if not paths:
        print(f"no overlay named {args.overlay} under {K8S_DIR / 'overlays'}", file=sys.stderr)
        return 1
    results = [validate_overlay(path) for path in paths]
    stale = stale_files()
    width = max(len(r.name) for r in results)
    print(f"{'overlay':<{width}}  objects  findings  time    result")
    for r in results:
        status = "PASS" if not r.findings else "FAIL"
        print(
            f"{r.name:<{width}}  {r.objects:>7}  {len(r.findings):>8}  {r.seconds:5.1f}s  {status}"
        )
    print(f"generated base/kafka: {'stale' if stale else 'up to date'}")
    for r in results:
        for finding in sorted(r.findings):
            print(f"{r.name}: {finding}")
    for path in stale:
        print(f"stale: {path.relative_to(K8S_DIR.parent)} (run python k8s/generate.py)")
    assumed = sorted(set().union(*(r.assumed for r in results)))
    if assumed:
        print("assumed, not yet in the services (see PENDING_* in service_settings.py):")
        for item in assumed:
            print(f"  {item}")
    failed = any(r.findings for r in results) or bool(stale)
    print("k8s validation:", "FAILED" if failed else "passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
