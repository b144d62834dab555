"""Kafka resources against the contracts' topic catalogue: topics exactly as catalogued, users
allowed exactly what the catalogue says they produce and consume, lag scaling bounded by
partitions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mesh_manifests.kafka_access import (
    Grant,
    allowed,
    check_lag_scaling,
    check_topics,
    check_users,
    grants,
    participants,
    user_name,
)
from mesh_manifests.objects import Manifest, named, of_kind

from mlops_contracts import REPLY_TOPIC_PREFIX, TOPICS, dead_letter_topic, reply_topic
from mlops_contracts.topics import topics_to_create


def test_topics_match_the_catalogue_in_every_overlay(rendered: dict[str, list[Manifest]]) -> None:
    for overlay, objects in rendered.items():
        assert check_topics(objects) == [], overlay
        topics = {
            t["metadata"]["name"]: t["spec"]["partitions"] for t in of_kind(objects, "KafkaTopic")
        }
        assert topics == {spec.name: spec.partitions for spec in topics_to_create()}


def test_every_consumed_topic_has_a_dead_letter_topic(rendered: dict[str, list[Manifest]]) -> None:
    names = {t["metadata"]["name"] for t in of_kind(rendered["prod"], "KafkaTopic")}
    for spec in TOPICS:
        assert (dead_letter_topic(spec.name) in names) == spec.has_consumers


def test_users_match_the_catalogue_in_every_overlay(rendered: dict[str, list[Manifest]]) -> None:
    for overlay, objects in rendered.items():
        assert check_users(objects) == [], overlay
        assert check_lag_scaling(objects) == [], overlay


def _user(objects: list[Manifest], participant: str) -> list[Grant]:
    user = named(objects, "KafkaUser", user_name(participant))
    assert user is not None
    return grants(user)


def test_producers_write_and_consumers_read_in_their_group(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["prod"]
    for spec in topics_to_create():
        for participant in participants():
            rules = _user(objects, participant)
            assert allowed(rules, "topic", spec.name, "Write") == (participant in spec.producers)
            assert allowed(rules, "topic", spec.name, "Read") == (participant in spec.consumers)
    predictor = _user(objects, "predictor")
    assert allowed(predictor, "group", "predictor", "Read")
    assert allowed(predictor, "group", "predictor-predictor-7d9f-x2x4z", "Read")
    assert not allowed(predictor, "group", "monitor", "Read")
    # Every consumer writes the dead letters of what it consumes.
    assert allowed(predictor, "topic", "predictions.requests.dlq", "Write")


def test_reply_topics_belong_to_the_gateway(rendered: dict[str, list[Manifest]]) -> None:
    topic = reply_topic("gateway-5d8f7c9b7-x2x4z")
    gateway = _user(rendered["prod"], "gateway")
    predictor = _user(rendered["prod"], "predictor")
    monitor = _user(rendered["prod"], "monitor")
    assert all(allowed(gateway, "topic", topic, op) for op in ("Create", "Read", "Delete"))
    assert allowed(predictor, "topic", topic, "Write")
    assert not allowed(predictor, "topic", topic, "Read")
    assert not any(allowed(monitor, "topic", topic, op) for op in ("Read", "Write", "Describe"))


def test_grant_semantics_follow_kafka() -> None:
    prefix = Grant("topic", REPLY_TOPIC_PREFIX, "prefix", frozenset({"Write"}), allow=True)
    literal = Grant("topic", "a.b", "literal", frozenset({"Read"}), allow=True)
    deny = Grant("topic", "a.b", "literal", frozenset({"Read"}), allow=False)
    assert allowed([prefix], "topic", f"{REPLY_TOPIC_PREFIX}x", "Write")
    assert allowed([prefix], "topic", f"{REPLY_TOPIC_PREFIX}x", "Describe")  # implied
    assert not allowed([prefix], "topic", "predictions.results", "Write")
    assert allowed([literal], "topic", "a.b", "Read")
    assert not allowed([literal], "topic", "a.b.c", "Read")
    assert not allowed([literal], "group", "a.b", "Read")
    assert not allowed([literal, deny], "topic", "a.b", "Read")


def _acls(o: Manifest) -> list[Manifest]:
    acls: list[Manifest] = o["spec"]["authorization"]["acls"]
    return acls


def _acl(kind: str, name: str, pattern: str, *ops: str) -> Manifest:
    return {
        "resource": {"type": kind, "name": name, "patternType": pattern},
        "operations": list(ops),
    }


BROKEN: list[tuple[str, str, str, Callable[[Manifest], object], str]] = [
    ("partitions changed", "KafkaTopic", "predictions.requests",
     lambda o: o["spec"].update(partitions=24), "partitions 24 != catalogue 12"),
    ("retention changed", "KafkaTopic", "customer.activity",
     lambda o: o["spec"]["config"].update({"retention.ms": "1"}), "config"),
    ("compaction dropped", "KafkaTopic", "predictor.status",
     lambda o: o["spec"]["config"].update({"cleanup.policy": "delete"}), "config"),
    ("renamed topic", "KafkaTopic", "monitoring.drift",
     lambda o: o["metadata"].update(name="monitoring.drifts"), "not in the topic catalogue"),
    ("more replicas than brokers", "KafkaTopic", "training.results",
     lambda o: o["spec"].update(replicas=5), "3 broker(s)"),
    ("other cluster", "KafkaTopic", "training.results",
     lambda o: o["metadata"]["labels"].update({"strimzi.io/cluster": "other"}),
     "strimzi.io/cluster"),
    ("consumer loses Read", "KafkaUser", "predictor",
     lambda o: [a["operations"].remove("Read") for a in _acls(o)
                if a["resource"]["name"] == "predictions.requests"], "needs Read"),
    ("consumer loses its DLQ", "KafkaUser", "monitor",
     lambda o: o["spec"]["authorization"].update(acls=[a for a in _acls(o)
                if a["resource"]["name"] != "predictions.results.dlq"]), "needs Write"),
    ("producer writes a foreign topic", "KafkaUser", "ingest",
     lambda o: _acls(o).append(_acl("topic", "model.decisions", "literal", "Write")),
     "may Write topic 'model.decisions'"),
    ("prefix too wide", "KafkaUser", "predictor",
     lambda o: _acls(o).append(_acl("topic", "predictions.", "prefix", "Read")),
     "may Read topic 'predictions.replies.probe-0'"),
    ("reads another service's group", "KafkaUser", "monitor",
     lambda o: _acls(o).append(_acl("group", "predictor", "literal", "Read")),
     "may read group 'predictor'"),
    ("wildcard", "KafkaUser", "feature",
     lambda o: _acls(o).append(_acl("topic", "*", "literal", "Describe")), "only allow rules"),
    ("cluster rights", "KafkaUser", "feature",
     lambda o: _acls(o).append(_acl("cluster", "kafka-cluster", "literal", "Alter")),
     "only allow rules"),
    ("no SCRAM", "KafkaUser", "gateway",
     lambda o: o["spec"]["authentication"].update(type="tls"), "scram-sha-512"),
    ("user renamed", "KafkaUser", "retrain-trigger",
     lambda o: o["metadata"].update(name="trigger"), "has no KafkaUser"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "kind", "name", "change", "expected"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_drift_from_the_catalogue_is_flagged(
    rendered: dict[str, list[Manifest]],
    mutate: Callable[..., list[Manifest]],
    what: str,
    kind: str,
    name: str,
    change: Callable[[Manifest], object],
    expected: str,
) -> None:
    objects = mutate(rendered["prod"], kind, name, change)
    findings = [str(f) for f in check_topics(objects) + check_users(objects)]
    assert any(expected in f for f in findings), (what, findings)


def test_a_missing_topic_is_flagged(rendered: dict[str, list[Manifest]]) -> None:
    objects = [
        o
        for o in rendered["prod"]
        if not (o["kind"] == "KafkaTopic" and o["metadata"]["name"] == "training.progress.dlq")
    ]
    assert [f.message for f in check_topics(objects)] == ["catalogue topic has no KafkaTopic"]


def test_min_insync_must_leave_a_broker_to_lose(
    rendered: dict[str, list[Manifest]], mutate: Callable[..., list[Manifest]]
) -> None:
    objects = mutate(
        rendered["prod"],
        "Kafka",
        "mesh",
        lambda o: o["spec"]["kafka"]["config"].update({"min.insync.replicas": 3}),
    )
    assert any("leaves no broker to lose" in f.message for f in check_topics(objects))


SCALING: list[tuple[str, Callable[[Manifest], object], str]] = [
    ("more replicas than partitions", lambda o: o["spec"].update(maxReplicaCount=20),
     "maxReplicaCount 20 != 12"),
    ("wrong group", lambda o: o["spec"]["triggers"][0]["metadata"].update(consumerGroup="monitor"),
     "group 'monitor'"),
    ("uncatalogued topic", lambda o: o["spec"]["triggers"][0]["metadata"].update(topic="x"),
     "not in the catalogue"),
    ("other bootstrap", lambda o: o["spec"]["triggers"][0]["metadata"].update(
        bootstrapServers="kafka:9092"), "bootstrapServers"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "change", "expected"), SCALING, ids=[s[0] for s in SCALING])
def test_lag_scaling_drift_is_flagged(
    rendered: dict[str, list[Manifest]],
    mutate: Callable[..., list[Manifest]],
    what: str,
    change: Callable[[Manifest], object],
    expected: str,
) -> None:
    objects = mutate(rendered["prod"], "ScaledObject", "predictor", change)
    assert any(expected in str(f) for f in check_lag_scaling(objects)), what
