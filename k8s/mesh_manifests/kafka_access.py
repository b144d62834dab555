"""Kafka topics and users of the mesh, from the contracts' topic catalogue.

`topic_manifests` and `user_manifests` write base/kafka/topics.yaml and users.yaml
(k8s/generate.py); `check_topics`, `check_users` and `check_lag_scaling` check what an overlay
renders against the catalogue itself, so a hand edit, a stale file or a patch that drifts
from the contracts is caught. The ACL check evaluates the rendered ACLs the way Kafka's
authorizer does (literal and prefix patterns, operations implying Describe) rather than
comparing them with the generator's output.

Conventions beyond the catalogue (documented in k8s/README.md):

- a service's KafkaUser and its consumer group are both named like the service;
- each predictor replica also reads model.decisions in its own group ``predictor-<pod>``
  (broadcast), and each gateway instance owns a reply topic
  ``predictions.replies.<pod>`` (created and deleted by it, read in group ``gateway-<pod>``);
- the catalogue's ``client`` (anything outside the mesh) is the KafkaUser
  ``streaming-client``, whose consumer groups start with ``client-``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from mesh_manifests.objects import Finding, Manifest, named, of_kind, ref
from mlops_contracts import REPLY_TOPIC_PREFIX, TOPICS, reply_topic, reply_topic_spec
from mlops_contracts.topics import TopicSpec, topics_to_create

KAFKA_CLUSTER = "mesh"
"""Name of the Strimzi Kafka resource (and so of its bootstrap Service and CA Secret)."""

TOPIC_REPLICAS = 3
"""Replication factor of every topic in the base (the dev overlay patches it to 1)."""

EXTERNAL = "client"
"""The catalogue's name for producers and consumers outside the mesh."""

USER_NAMES: Mapping[str, str] = {EXTERNAL: "streaming-client"}
"""KafkaUser name of a catalogue participant, where it is not the participant's own name."""

GROUP_PREFIXES: Mapping[str, tuple[str, ...]] = {
    "predictor": ("predictor-",),
    "gateway": ("gateway-",),
    # Every replica follows the projects topic in a group of its own.
    "retrain-trigger": ("retrain-trigger-",),
    "ingest": ("ingest-",),
    # Each keeps its own label log, read in a group of its own beside its main one.
    "trainer-gpu": ("trainer-gpu.",),
    "registry": ("registry.",),
    # The dashboard replays the loop's topics in a fresh group at every start.
    "monitor": ("monitor.",),
    EXTERNAL: ("client-",),
}
"""Consumer-group name prefixes a participant may read, beside its literal group."""

LITERAL_GROUP: Mapping[str, bool] = {EXTERNAL: False}
"""Whether a participant reads a group named like itself (external clients pick their own)."""

_PROBE_INSTANCE = "probe-0"
_IMPLIES_DESCRIBE = frozenset({"Read", "Write", "Delete", "Alter"})
_TOPIC_OPERATIONS = ("Read", "Write", "Create", "Delete", "Alter", "AlterConfigs")


def user_name(participant: str) -> str:
    """KafkaUser (and SCRAM user name) of a catalogue participant."""
    return USER_NAMES.get(participant, participant)


def participants() -> list[str]:
    """Every producer and consumer the catalogue names, sorted."""
    names: set[str] = set()
    for spec in (*topics_to_create(), reply_topic_spec(_PROBE_INSTANCE)):
        names.update(spec.producers, spec.consumers)
    return sorted(names)


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


def topic_manifest(spec: TopicSpec) -> Manifest:
    """The KafkaTopic of one catalogue topic."""
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": spec.name, "labels": {"strimzi.io/cluster": KAFKA_CLUSTER}},
        "spec": {
            "partitions": spec.partitions,
            "replicas": TOPIC_REPLICAS,
            "config": spec.topic_config(),
        },
    }


def _acl(resource_type: str, name: str, pattern: str, operations: Iterable[str]) -> Manifest:
    return {
        "resource": {"type": resource_type, "name": name, "patternType": pattern},
        "operations": sorted(operations),
        "host": "*",
        "type": "allow",
    }


def user_acls(participant: str) -> list[Manifest]:
    """The ACLs a participant needs: its topics, the reply-topic prefix, its groups."""
    topics: dict[str, set[str]] = {}
    for spec in topics_to_create():
        if participant in spec.producers:
            topics.setdefault(spec.name, set()).update({"Describe", "Write"})
        if participant in spec.consumers:
            topics.setdefault(spec.name, set()).update({"Describe", "Read"})
    acls = [_acl("topic", name, "literal", ops) for name, ops in sorted(topics.items())]
    reply = reply_topic_spec(_PROBE_INSTANCE)
    reply_ops: set[str] = set()
    if participant in reply.producers:
        reply_ops.update({"Describe", "Write"})
    if participant in reply.consumers:
        # The consumer is the instance that owns the topic: it creates it at start-up and
        # deletes it when it stops.
        reply_ops.update({"Describe", "Read", "Create", "Delete"})
    if reply_ops:
        acls.append(_acl("topic", REPLY_TOPIC_PREFIX, "prefix", reply_ops))
    if any(participant in spec.consumers for spec in topics_to_create()) or (
        participant in reply.consumers
    ):
        if LITERAL_GROUP.get(participant, True):
            acls.append(_acl("group", participant, "literal", {"Read"}))
        for prefix in GROUP_PREFIXES.get(participant, ()):
            acls.append(_acl("group", prefix, "prefix", {"Read"}))
    return acls


def user_manifest(participant: str) -> Manifest:
    """The KafkaUser of a participant: SCRAM-SHA-512 credentials and its ACLs."""
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {
            "name": user_name(participant),
            "labels": {"strimzi.io/cluster": KAFKA_CLUSTER},
        },
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": user_acls(participant)},
        },
    }


_HEADER = (
    "# GENERATED by k8s/generate.py from contracts/src/mlops_contracts/topics.py: do not edit.\n"
    "# k8s/validate.py fails when this file differs from what the catalogue generates.\n"
)


def _dump(documents: list[tuple[str, Manifest]]) -> str:
    parts = []
    for comment, document in documents:
        text = yaml.safe_dump(document, sort_keys=False, width=100)
        parts.append(f"# {comment}\n{text}")
    return _HEADER + "---\n".join(parts)


def topics_yaml() -> str:
    """base/kafka/topics.yaml: one KafkaTopic per topic the mesh creates up front."""
    return _dump(
        [
            (
                f"{spec.name}: {spec.partitions} partition(s), {spec.cleanup_policy}.",
                topic_manifest(spec),
            )
            for spec in topics_to_create()
        ]
    )


def users_yaml() -> str:
    """base/kafka/users.yaml: one KafkaUser per catalogue participant."""
    return _dump(
        [
            (
                f"{participant}: produces/consumes only its catalogue topics.",
                user_manifest(participant),
            )
            for participant in participants()
        ]
    )


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _broker_count(objects: list[Manifest]) -> int:
    return sum(
        int(pool.get("spec", {}).get("replicas", 0))
        for pool in of_kind(objects, "KafkaNodePool")
        if "broker" in pool.get("spec", {}).get("roles", [])
    )


def check_topics(objects: list[Manifest]) -> list[Finding]:
    """KafkaTopics are exactly the catalogue's topics, sized and configured as it says, and
    replicated no more than the brokers allow."""
    findings: list[Finding] = []
    expected = {spec.name: spec for spec in topics_to_create()}
    rendered = {obj["metadata"]["name"]: obj for obj in of_kind(objects, "KafkaTopic")}
    for name in sorted(expected.keys() - rendered.keys()):
        findings.append(Finding("kafka", f"KafkaTopic/{name}", "catalogue topic has no KafkaTopic"))
    for name in sorted(rendered.keys() - expected.keys()):
        findings.append(Finding("kafka", f"KafkaTopic/{name}", "not in the topic catalogue"))
    kafka = named(objects, "Kafka", KAFKA_CLUSTER)
    brokers = _broker_count(objects)
    cluster_config: Mapping[str, Any] = (
        kafka.get("spec", {}).get("kafka", {}).get("config", {}) if kafka else {}
    )
    min_insync = int(cluster_config.get("min.insync.replicas", 1))
    for name in sorted(expected.keys() & rendered.keys()):
        spec, obj = expected[name], rendered[name]
        subject = ref(obj)
        topic_spec = obj.get("spec", {})
        if obj["metadata"].get("labels", {}).get("strimzi.io/cluster") != KAFKA_CLUSTER:
            findings.append(
                Finding("kafka", subject, f"label strimzi.io/cluster must be {KAFKA_CLUSTER}")
            )
        if topic_spec.get("topicName", name) != name:
            findings.append(Finding("kafka", subject, "topicName differs from the catalogue name"))
        if topic_spec.get("partitions") != spec.partitions:
            findings.append(
                Finding(
                    "kafka",
                    subject,
                    f"partitions {topic_spec.get('partitions')} != catalogue {spec.partitions}",
                )
            )
        config = {key: str(value) for key, value in topic_spec.get("config", {}).items()}
        if config != spec.topic_config():
            findings.append(
                Finding("kafka", subject, f"config {config} != catalogue {spec.topic_config()}")
            )
        replicas = topic_spec.get("replicas")
        if not isinstance(replicas, int) or replicas > brokers:
            findings.append(
                Finding(
                    "kafka", subject, f"replicas {replicas} but the cluster has {brokers} broker(s)"
                )
            )
        elif replicas > 1 and min_insync >= replicas:
            findings.append(
                Finding(
                    "kafka",
                    subject,
                    f"min.insync.replicas {min_insync} leaves no broker to lose "
                    f"at {replicas} replicas",
                )
            )
    return findings


@dataclass(frozen=True)
class Grant:
    """One rendered ACL rule."""

    resource_type: str
    name: str
    pattern: str
    operations: frozenset[str]
    allow: bool

    def covers(self, resource_type: str, name: str, operation: str) -> bool:
        """Whether the rule applies to this operation on this resource (Kafka's semantics)."""
        if self.resource_type != resource_type:
            return False
        if self.name != "*" and not (
            self.name == name if self.pattern == "literal" else name.startswith(self.name)
        ):
            return False
        if "All" in self.operations or operation in self.operations:
            return True
        return operation == "Describe" and bool(self.operations & _IMPLIES_DESCRIBE)


def grants(user: Manifest) -> list[Grant]:
    """The ACL rules of a rendered KafkaUser."""
    acls = user.get("spec", {}).get("authorization", {}).get("acls", [])
    return [
        Grant(
            resource_type=acl["resource"]["type"],
            name=acl["resource"].get("name", "*"),
            pattern=acl["resource"].get("patternType", "literal"),
            operations=frozenset(acl.get("operations", [])),
            allow=acl.get("type", "allow") == "allow",
        )
        for acl in acls
    ]


def allowed(rules: list[Grant], resource_type: str, name: str, operation: str) -> bool:
    """Whether the rules allow the operation (a matching deny wins, as in Kafka)."""
    matching = [rule for rule in rules if rule.covers(resource_type, name, operation)]
    return any(rule.allow for rule in matching) and not any(not rule.allow for rule in matching)


def required_permissions(participant: str) -> set[tuple[str, str, str]]:
    """(resource type, name, operation) a participant needs, straight from the catalogue:
    producers write, consumers read the topic in their group (which includes writing their
    dead-letter topics, whose producers are the origin's consumers)."""
    needed: set[tuple[str, str, str]] = set()
    groups = consumer_groups(participant)
    for spec in topics_to_create():
        if participant in spec.producers:
            needed.add(("topic", spec.name, "Write"))
        if participant in spec.consumers:
            needed.add(("topic", spec.name, "Read"))
            needed.update(("group", group, "Read") for group in groups)
    reply = reply_topic_spec(_PROBE_INSTANCE)
    if participant in reply.producers:
        needed.add(("topic", reply.name, "Write"))
    if participant in reply.consumers:
        needed.update({("topic", reply.name, op) for op in ("Read", "Create", "Delete")})
        needed.update(("group", group, "Read") for group in groups)
    return needed


def consumer_groups(participant: str) -> list[str]:
    """Example consumer groups a participant uses (its own, and per-replica ones)."""
    groups = [participant] if LITERAL_GROUP.get(participant, True) else []
    groups += [f"{prefix}{_PROBE_INSTANCE}" for prefix in GROUP_PREFIXES.get(participant, ())]
    return groups


def check_users(objects: list[Manifest]) -> list[Finding]:
    """One SCRAM KafkaUser per catalogue participant, allowed what the catalogue says it needs
    and nothing else: no other topic, no other service's group, no cluster rights."""
    findings: list[Finding] = []
    users = {obj["metadata"]["name"]: obj for obj in of_kind(objects, "KafkaUser")}
    expected = {user_name(participant): participant for participant in participants()}
    for name in sorted(expected.keys() - users.keys()):
        findings.append(
            Finding("kafka", f"KafkaUser/{name}", "catalogue participant has no KafkaUser")
        )
    for name in sorted(users.keys() - expected.keys()):
        findings.append(Finding("kafka", f"KafkaUser/{name}", "not a participant of the catalogue"))
    probe_reply = reply_topic(_PROBE_INSTANCE)
    all_topics = [spec.name for spec in topics_to_create()] + [probe_reply, "unrelated.topic"]
    all_groups = {group for participant in participants() for group in consumer_groups(participant)}
    all_groups.add("unrelated-group")
    for name in sorted(expected.keys() & users.keys()):
        participant, user = expected[name], users[name]
        subject = ref(user)
        spec = user.get("spec", {})
        if spec.get("authentication", {}).get("type") != "scram-sha-512":
            findings.append(Finding("kafka", subject, "authentication must be scram-sha-512"))
        if spec.get("authorization", {}).get("type") != "simple":
            findings.append(Finding("kafka", subject, "authorization must be simple (ACLs)"))
        if user["metadata"].get("labels", {}).get("strimzi.io/cluster") != KAFKA_CLUSTER:
            findings.append(
                Finding("kafka", subject, f"label strimzi.io/cluster must be {KAFKA_CLUSTER}")
            )
        rules = grants(user)
        for rule in rules:
            if rule.resource_type not in ("topic", "group") or rule.name == "*" or not rule.allow:
                findings.append(
                    Finding(
                        "kafka",
                        subject,
                        f"only allow rules on named topics and groups: {rule.resource_type} "
                        f"{rule.name!r} ({'allow' if rule.allow else 'deny'})",
                    )
                )
        needed = required_permissions(participant)
        for resource_type, resource, operation in sorted(needed):
            if not allowed(rules, resource_type, resource, operation):
                findings.append(
                    Finding("kafka", subject, f"needs {operation} on {resource_type} {resource!r}")
                )
        for topic in all_topics:
            for operation in _TOPIC_OPERATIONS:
                if ("topic", topic, operation) not in needed and allowed(
                    rules, "topic", topic, operation
                ):
                    findings.append(
                        Finding(
                            "kafka", subject, f"may {operation} topic {topic!r} it does not need"
                        )
                    )
        for group in sorted(all_groups):
            if ("group", group, "Read") not in needed and allowed(rules, "group", group, "Read"):
                findings.append(
                    Finding("kafka", subject, f"may read group {group!r} of another service")
                )
    return findings


def check_lag_scaling(objects: list[Manifest]) -> list[Finding]:
    """KEDA Kafka triggers scale a consumer of the topic, in its group, up to the topic's
    partition count (a replica beyond it would get no partition)."""
    findings: list[Finding] = []
    by_name = {spec.name: spec for spec in TOPICS}
    endpoints = named(objects, "ConfigMap", "mlops-endpoints")
    bootstrap = endpoints.get("data", {}).get("kafka-bootstrap-servers") if endpoints else None
    for scaled in of_kind(objects, "ScaledObject"):
        subject = ref(scaled)
        spec = scaled.get("spec", {})
        target = spec.get("scaleTargetRef", {}).get("name")
        for trigger in spec.get("triggers", []):
            if trigger.get("type") != "kafka":
                continue
            metadata = trigger.get("metadata", {})
            topic = by_name.get(metadata.get("topic", ""))
            if topic is None:
                findings.append(
                    Finding(
                        "kafka", subject, f"topic {metadata.get('topic')!r} not in the catalogue"
                    )
                )
                continue
            if target not in topic.consumers or metadata.get("consumerGroup") != target:
                findings.append(
                    Finding(
                        "kafka",
                        subject,
                        f"scales {target!r} on group {metadata.get('consumerGroup')!r}, but "
                        f"{topic.name} is consumed by {topic.consumers} in their own groups",
                    )
                )
            if spec.get("maxReplicaCount") != topic.partitions:
                findings.append(
                    Finding(
                        "kafka",
                        subject,
                        f"maxReplicaCount {spec.get('maxReplicaCount')} != {topic.partitions} "
                        f"partitions of {topic.name}",
                    )
                )
            if bootstrap is not None and metadata.get("bootstrapServers") != bootstrap:
                findings.append(
                    Finding(
                        "kafka",
                        subject,
                        f"bootstrapServers {metadata.get('bootstrapServers')!r} != "
                        f"mlops-endpoints {bootstrap!r}",
                    )
                )
    return findings
