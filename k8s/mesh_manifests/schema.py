"""Schema validation of rendered objects, offline.

Built-in kinds validate against the Kubernetes OpenAPI schemas that the kubernetes-validate
package bundles, in strict mode (an unknown field is an error), for the oldest and the newest
Kubernetes version the manifests support. Custom resources (Strimzi, KEDA) validate against
the hand-written schemas in k8s/schemas/ (their ``$comment`` says what they cover). A kind
with no schema at all is a finding, never silently skipped.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

from mesh_manifests.objects import Finding, Manifest, ref
from mesh_manifests.render import K8S_DIR

KUBERNETES_VERSIONS = ("1.30", "1.37")
"""Oldest Kubernetes the manifests support (native preStop sleep, CronJob time zones) and the
newest kubernetes-validate knows."""

CRD_SCHEMAS_DIR = K8S_DIR / "schemas"


def crd_schema_path(api_version: str, kind: str) -> Path:
    """Where the hand-written schema of a custom resource kind lives."""
    group, _, version = api_version.partition("/")
    return CRD_SCHEMAS_DIR / f"{group}_{version}_{kind.lower()}.json"


def is_builtin(api_version: str) -> bool:
    """Whether an apiVersion belongs to Kubernetes itself (core or a *.k8s.io / known group)."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


@cache
def _crd_validator(path: Path) -> Any:
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@cache
def _builtin_problem(document: str, version: str) -> str | None:
    # Keyed by the object's JSON: overlays share most objects, each is validated once.
    try:
        kubernetes_validate.validate(json.loads(document), version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.path) or "(object)"
        return f"Kubernetes {version}: {where}: {error.message}"
    except kubernetes_validate.SchemaNotFoundError as error:
        return f"Kubernetes {version} has no {error.kind} in {error.api_version}"
    return None


def validate_object(obj: Manifest) -> list[Finding]:
    """Schema findings for one object (empty when it validates)."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    if is_builtin(api_version):
        document = json.dumps(obj, sort_keys=True)
        problems = [_builtin_problem(document, version) for version in KUBERNETES_VERSIONS]
        return [Finding("schema", ref(obj), problem) for problem in problems if problem]
    path = crd_schema_path(api_version, kind)
    if not path.is_file():
        return [
            Finding(
                "schema",
                ref(obj),
                f"no schema for {kind} in {api_version}: add {path.relative_to(K8S_DIR)}",
            )
        ]
    validator = _crd_validator(path)
    return [
        Finding(
            "schema",
            ref(obj),
            f"{'.'.join(str(p) for p in error.absolute_path) or '(object)'}: {error.message}",
        )
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    ]


def validate_objects(objects: list[Manifest]) -> list[Finding]:
    """Schema findings for every object of an overlay."""
    return [finding for obj in objects for finding in validate_object(obj)]
