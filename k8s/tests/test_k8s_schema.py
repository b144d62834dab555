"""Schema validation: built-in kinds against Kubernetes' schemas, CRDs against k8s/schemas/.

The CRD schemas are HAND-WRITTEN subsets (no Strimzi or KEDA CRD package is on PyPI or npm):
the test below says so and checks they cover every custom kind the overlays render.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from mesh_manifests.objects import Manifest, of_kind
from mesh_manifests.schema import (
    CRD_SCHEMAS_DIR,
    KUBERNETES_VERSIONS,
    crd_schema_path,
    is_builtin,
    validate_object,
    validate_objects,
)


def test_every_rendered_object_validates(rendered: dict[str, list[Manifest]]) -> None:
    for overlay, objects in rendered.items():
        assert [str(f) for f in validate_objects(objects)] == [], overlay


def test_validated_against_the_oldest_and_newest_supported_kubernetes() -> None:
    assert KUBERNETES_VERSIONS == ("1.30", "1.37")


def test_crd_schemas_are_hand_written_and_cover_every_custom_kind(
    rendered: dict[str, list[Manifest]],
) -> None:
    custom = {
        (obj["apiVersion"], obj["kind"])
        for objects in rendered.values()
        for obj in objects
        if not is_builtin(obj["apiVersion"])
    }
    assert custom == {
        ("kafka.strimzi.io/v1", "Kafka"),
        ("kafka.strimzi.io/v1", "KafkaNodePool"),
        ("kafka.strimzi.io/v1", "KafkaTopic"),
        ("kafka.strimzi.io/v1", "KafkaUser"),
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("keda.sh/v1alpha1", "TriggerAuthentication"),
    }
    for api_version, kind in custom:
        schema = json.loads(crd_schema_path(api_version, kind).read_text())
        # Explicitly hand-made subsets, not the operators' CRDs (see the module docstring).
        assert schema["x-mlops-handmade"] is True
        assert "Hand-written" in schema["$comment"]
    assert len(list(CRD_SCHEMAS_DIR.glob("*.json"))) == len(custom)


def _of(objects: list[Manifest], kind: str) -> Manifest:
    return of_kind(objects, kind)[0]


BROKEN: list[tuple[str, str, Callable[[Manifest], object], str]] = [
    ("unknown Deployment field", "Deployment",
     lambda o: o["spec"].update(replica=2), "replica"),
    ("wrong type", "Deployment",
     lambda o: o["spec"].update(revisionHistoryLimit="five"), "five"),
    ("misspelt container field", "Deployment",
     lambda o: o["spec"]["template"]["spec"]["containers"][0].update(imagePullPolcy="Always"),
     "imagePullPolcy"),
    ("KafkaTopic typo", "KafkaTopic",
     lambda o: o["spec"].update(partition=3), "partition"),
    ("KafkaUser operation", "KafkaUser",
     lambda o: o["spec"]["authorization"]["acls"][0]["operations"].append("Writ"), "Writ"),
    ("KafkaUser authentication", "KafkaUser",
     lambda o: o["spec"]["authentication"].update(type="plain"), "plain"),
    ("Kafka listener port", "Kafka",
     lambda o: o["spec"]["kafka"]["listeners"][0].update(port=80), "80"),
    ("node pool role", "KafkaNodePool",
     lambda o: o["spec"]["roles"].append("zookeeper"), "zookeeper"),
    ("KEDA metadata must be strings", "ScaledObject",
     lambda o: o["spec"]["triggers"][0]["metadata"].update(lagThreshold=200), "200"),
    ("KEDA kafka sasl mode", "ScaledObject",
     lambda o: o["spec"]["triggers"][0]["metadata"].update(sasl="scram-sha-512"), "scram"),
    ("TriggerAuthentication without key", "TriggerAuthentication",
     lambda o: o["spec"]["secretTargetRef"][0].pop("key"), "key"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "kind", "change", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_object_is_flagged(
    rendered: dict[str, list[Manifest]],
    mutate: Callable[..., list[Manifest]],
    what: str,
    kind: str,
    change: Callable[[Manifest], object],
    expected: str,
) -> None:
    original = _of(rendered["prod"], kind)
    assert validate_object(original) == []
    objects = mutate(rendered["prod"], kind, original["metadata"]["name"], change)
    findings = validate_object(_of(objects, kind))
    assert findings, what
    assert any(expected in f.message for f in findings), [str(f) for f in findings]


def test_a_kind_without_schema_is_flagged_not_skipped() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert [f.message for f in validate_object(obj)] == [
        "no schema for Widget in example.com/v1: add schemas/example.com_v1_widget.json"
    ]


def test_a_builtin_kind_unknown_to_kubernetes_is_flagged() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deploymint", "metadata": {"name": "x"}}
    assert validate_object(obj)
