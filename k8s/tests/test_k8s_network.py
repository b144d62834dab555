"""Network policies: default deny, the mesh's paths open, everything else closed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mesh_manifests.network import (
    BROKER,
    INTRUDER,
    Endpoint,
    check_network,
    connection_allowed,
    egress_allowed,
    ingress_allowed,
)
from mesh_manifests.objects import Manifest, of_kind


def test_every_overlay_opens_exactly_the_mesh_paths(rendered: dict[str, list[Manifest]]) -> None:
    for overlay, objects in rendered.items():
        assert [str(f) for f in check_network(objects)] == [], overlay


def test_evaluation_follows_the_networkpolicy_api() -> None:
    deny_all: Manifest = {"spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    to_broker: Manifest = {
        "spec": {
            "podSelector": {"matchLabels": {"app": "a"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": BROKER.labels}}],
                        "ports": [{"port": 9093}]}],
        },
    }  # fmt: skip
    client = Endpoint("a", {"app": "a"})
    elsewhere = Endpoint("x", BROKER.labels, namespace="elsewhere")
    assert connection_allowed([], client, INTRUDER, 1)  # no policy selects: open
    assert not egress_allowed([deny_all], client, BROKER, 9093)
    assert egress_allowed([deny_all, to_broker], client, BROKER, 9093)
    assert not egress_allowed([deny_all, to_broker], client, BROKER, 9092)  # other port
    assert not egress_allowed([deny_all, to_broker], client, elsewhere, 9093)  # own namespace only
    assert not ingress_allowed([deny_all, to_broker], client, BROKER, 9093)  # broker ingress denied
    assert not connection_allowed([deny_all, to_broker], client, BROKER, 9093)
    assert connection_allowed([deny_all, to_broker], client, elsewhere, 9093) is False


def _without(name: str) -> Callable[[list[Manifest]], list[Manifest]]:
    return lambda objects: [
        o for o in objects if not (o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == name)
    ]


def _changed(
    name: str, change: Callable[[Manifest], object]
) -> Callable[[list[Manifest]], list[Manifest]]:
    def apply(objects: list[Manifest]) -> list[Manifest]:
        import copy

        copied = copy.deepcopy(objects)
        for o in of_kind(copied, "NetworkPolicy"):
            if o["metadata"]["name"] == name:
                change(o)
        return copied

    return apply


BROKEN: list[tuple[str, str, Callable[[list[Manifest]], list[Manifest]], str]] = [
    ("no default deny", "prod", _without("default-deny"), "no default-deny"),
    ("no DNS", "prod", _without("allow-dns"), "blocked: DNS"),
    ("predictor cannot reach Redis", "dev", _changed("predictor-egress",
     lambda o: o["spec"].update(egress=[r for r in o["spec"]["egress"]
                                        if r["ports"][0]["port"] != 6379])), "PREDICTOR_REDIS_URL"),
    ("Redis open to every pod", "dev", _changed("redis-ingress",
     lambda o: o["spec"]["ingress"][0].pop("from")), "redis:6379 from any pod"),
    ("trainer cannot reach MLflow", "dev", _without("mlflow-ingress"),
     "TRAINER_MLFLOW_TRACKING_URI"),
    ("registry cannot reach Kafka", "prod", _changed("registry-egress",
     lambda o: o["spec"]["egress"].pop(0)), "blocked: Kafka brokers"),
    ("predictor public", "prod", _changed("public-http",
     lambda o: o["spec"]["podSelector"]["matchExpressions"][0]["values"].append("predictor")),
     "HTTP 8710 from outside"),
    ("gateway not public", "prod", _without("public-http"), "public HTTP on 8700"),
    ("no metrics", "prod", _without("metrics-scrape"), "metrics scrape"),
    ("egress anywhere", "prod", _changed("gateway-egress",
     lambda o: o["spec"]["egress"].append({})), "egress to any address on 8080"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "overlay", "change", "expected"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_a_broken_policy_is_flagged(
    rendered: dict[str, list[Manifest]],
    what: str,
    overlay: str,
    change: Callable[[list[Manifest]], list[Manifest]],
    expected: str,
) -> None:
    findings = [str(f) for f in check_network(change(rendered[overlay]))]
    assert any(expected in f for f in findings), (what, findings)


def test_listener_peers_keep_other_pods_from_kafka(
    rendered: dict[str, list[Manifest]], mutate: Callable[..., list[Manifest]]
) -> None:
    objects = mutate(
        rendered["prod"],
        "Kafka",
        "mesh",
        lambda o: o["spec"]["kafka"]["listeners"][0].pop("networkPolicyPeers"),
    )
    assert any("any pod to the brokers" in str(f) for f in check_network(objects))
    objects = mutate(
        rendered["prod"],
        "Kafka",
        "mesh",
        lambda o: o["spec"]["kafka"]["listeners"][0]["networkPolicyPeers"].pop(1),
    )
    assert any("KEDA" in str(f) for f in check_network(objects))
