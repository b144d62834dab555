"""Rendered Kubernetes objects: names, pod templates, containers, findings about them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]
"""One rendered Kubernetes object, as parsed from YAML."""

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"})
"""Kinds that run pods (their pod template is what the policy is about)."""


@dataclass(frozen=True, order=True)
class Finding:
    """One problem found in a rendered overlay."""

    check: str
    """Which check found it: schema, policy, network, kafka, settings."""
    subject: str
    """The object it is about, as ``Kind/name`` (or the overlay when about no one object)."""
    message: str
    """What is wrong, in words that say how to fix it."""

    def __str__(self) -> str:
        return f"[{self.check}] {self.subject}: {self.message}"


def ref(obj: Manifest) -> str:
    """``Kind/name`` of an object, for messages."""
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def of_kind(objects: list[Manifest], *kinds: str) -> list[Manifest]:
    """The objects of the given kinds, in render order."""
    return [obj for obj in objects if obj.get("kind") in kinds]


def named(objects: list[Manifest], kind: str, name: str) -> Manifest | None:
    """The object of that kind and name, if rendered."""
    for obj in objects:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            return obj
    return None


def pod_template(obj: Manifest) -> Manifest:
    """The pod template (metadata + spec) of a workload; CronJobs nest it in the job template."""
    spec = obj.get("spec", {})
    if obj.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    template: Manifest = spec.get("template", {})
    return template


def pod_spec(obj: Manifest) -> Manifest:
    """The pod spec of a workload."""
    spec: Manifest = pod_template(obj).get("spec", {})
    return spec


def pod_labels(obj: Manifest) -> dict[str, str]:
    """The labels its pods get."""
    labels: dict[str, str] = pod_template(obj).get("metadata", {}).get("labels", {})
    return labels


def containers(obj: Manifest, *, init: bool = True) -> Iterator[Manifest]:
    """Every container of a workload's pods (init containers first when ``init``)."""
    spec = pod_spec(obj)
    if init:
        yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def image_name(image: str) -> str:
    """The repository's last path element without tag or digest: ``mlops-predictor``."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def image_tag(image: str) -> str | None:
    """The tag of an image reference, or None when it has none (a digest is not a tag)."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def selector_matches(selector: Manifest | None, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels + matchExpressions) selects ``labels``.

    An empty selector selects everything, as in NetworkPolicy podSelector; None selects nothing.
    """
    if selector is None:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True
