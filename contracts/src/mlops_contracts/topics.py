"""The topic catalogue: every Kafka topic of the mesh, what it carries and how it is keyed.

Each event type lives on exactly one catalogue topic (checked at import). Besides the
catalogue there are two families of derived topics:

- dead-letter topics, ``<topic>.dlq``, one per catalogue topic that has a consumer;
- reply topics, ``predictions.replies.<instance-id>``, one per gateway instance, created by
  that instance at start-up (see :func:`reply_topic`).

Topic names use dots only (no underscores): Kafka maps both to the same metric names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Literal

from .events import (
    EVENT_TYPES,
    CustomerActivityRecorded,
    DriftDetected,
    Event,
    FeaturesMaterialized,
    LabelObserved,
    ModelPromoted,
    ModelRejected,
    ModelTrained,
    OutcomeObserved,
    PerformanceDegraded,
    PredictionMade,
    PredictionRequested,
    PredictorModelLoaded,
    PredictorModelRefused,
    ProjectApplied,
    RecordObserved,
    TrainingFailed,
    TrainingProgress,
    TrainingRequested,
    TrainingSuppressed,
)

__all__ = [
    "DEAD_LETTER_HEADERS",
    "DEAD_LETTER_SUFFIX",
    "REPLY_TOPIC_PREFIX",
    "TOPICS",
    "Retention",
    "TopicSpec",
    "dead_letter_topic",
    "reply_topic",
    "reply_topic_spec",
    "topic_for",
    "topic_spec",
    "topics_to_create",
]

Retention = timedelta | Literal["compact"]
"""Retention intent: keep records for a duration (cleanup.policy=delete) or the latest record
per key forever (cleanup.policy=compact). Deployments translate it (see `topic_config`)."""

_TOPIC_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_MAX_TOPIC_NAME = 249  # Kafka's limit


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One Kafka topic: its name, size, key, the event types it carries and its retention."""

    name: str
    """Kafka topic name."""
    partitions: int
    """Partition count to create the topic with (records of one key stay on one partition)."""
    key_field: str | None
    """Event field whose value is the record key; None when records are not keyed."""
    event_types: tuple[type[Event], ...]
    """Event classes carried; empty for topics whose records are not contract events."""
    retention: Retention
    """Retention intent."""
    description: str
    """Why the topic exists and why it is sized and kept the way it is."""
    producers: tuple[str, ...] = ()
    """Services that write the topic ("client" = anything outside the mesh)."""
    consumers: tuple[str, ...] = ()
    """Services that read it; a topic with consumers gets a dead-letter topic."""
    type_names: tuple[str, ...] = field(init=False)
    """The versioned CloudEvents types of `event_types`."""

    def __post_init__(self) -> None:
        if not (_TOPIC_NAME.match(self.name) and len(self.name) <= _MAX_TOPIC_NAME):
            raise ValueError(
                f"invalid topic name {self.name!r}: use lowercase letters, digits, '.' and '-'"
            )
        if self.partitions < 1:
            raise ValueError(f"topic {self.name!r} needs at least one partition")
        for cls in self.event_types:
            if self.key_field is None or cls.key_field != self.key_field:
                raise ValueError(
                    f"topic {self.name!r} is keyed by {self.key_field!r} "
                    f"but {cls.__name__} is keyed by {cls.key_field!r}"
                )
        object.__setattr__(self, "type_names", tuple(cls.event_type for cls in self.event_types))

    @property
    def cleanup_policy(self) -> Literal["delete", "compact"]:
        """Kafka `cleanup.policy` implementing the retention intent."""
        return "compact" if self.retention == "compact" else "delete"

    @property
    def retention_ms(self) -> int | None:
        """Kafka `retention.ms`, or None for compacted topics."""
        if isinstance(self.retention, timedelta):
            return int(self.retention.total_seconds() * 1000)
        return None

    def topic_config(self) -> dict[str, str]:
        """Kafka topic-level configs for an admin client's CreateTopics (values as strings)."""
        config: dict[str, str] = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        return config

    @property
    def has_consumers(self) -> bool:
        """Whether some service consumes the topic (and so needs a dead-letter topic)."""
        return bool(self.consumers)


_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        name="customer.records.raw",
        partitions=6,
        key_field=None,
        event_types=(),
        retention=7 * _DAY,
        description=(
            "Raw, untrusted customer activity and label records from external producers, "
            "in no contract schema: ingest validates each one and dead-letters the bad ones. "
            "Producers should key by customer id; 6 partitions let ingest scale out."
        ),
        producers=("client",),
        consumers=("ingest",),
    ),
    TopicSpec(
        name="customer.activity",
        partitions=6,
        key_field="customer_id",
        event_types=(CustomerActivityRecorded,),
        retention=30 * _DAY,
        description=(
            "Validated activity records, keyed by customer so one customer's records stay in "
            "order on one partition (the feature service's rolling aggregates). Kept 30 days "
            "so features can be rebuilt by replay."
        ),
        producers=("ingest",),
        consumers=("feature",),
    ),
    TopicSpec(
        name="customer.labels",
        partitions=6,
        key_field="customer_id",
        event_types=(LabelObserved,),
        retention=30 * _DAY,
        description=(
            "Delayed churn labels, keyed by customer. The trainer and the registry each keep "
            "their own label log from it (training sets, the gate's fresh holdout); the "
            "monitor joins labels to predictions to measure live performance. Kept 30 days, "
            "longer than any label delay."
        ),
        producers=("ingest",),
        consumers=("trainer-gpu", "registry", "monitor", "retrain-trigger"),
    ),
    TopicSpec(
        name="features.materialized",
        partitions=1,
        key_field="feature_view",
        event_types=(FeaturesMaterialized,),
        retention=7 * _DAY,
        description=(
            "Summaries of feature batches written to the stores: low volume, one partition "
            "keeps them in order. For observability and lineage; nothing consumes it yet."
        ),
        producers=("feature",),
    ),
    TopicSpec(
        name="training.requested",
        partitions=1,
        key_field="model_name",
        event_types=(TrainingRequested,),
        retention=30 * _DAY,
        description=(
            "Training requests. One partition: requests are rare and the trainer runs one at "
            "a time in request order."
        ),
        producers=("retrain-trigger",),
        consumers=("trainer-gpu", "monitor"),
    ),
    TopicSpec(
        name="training.suppressed",
        partitions=1,
        key_field="model_name",
        event_types=(TrainingSuppressed,),
        retention=30 * _DAY,
        description=(
            "The retrain trigger's decisions not to train, with the policy that held each one "
            "back, for the dashboard's timeline. Low volume, one partition."
        ),
        producers=("retrain-trigger",),
        consumers=("monitor",),
    ),
    TopicSpec(
        name="training.progress",
        partitions=1,
        key_field="model_name",
        event_types=(TrainingProgress,),
        retention=_DAY,
        description=(
            "Per-epoch progress of training runs for the dashboard's progress bar; transient, "
            "kept one day (MLflow keeps the history)."
        ),
        producers=("trainer-gpu",),
        consumers=("monitor",),
    ),
    TopicSpec(
        name="training.results",
        partitions=1,
        key_field="model_name",
        event_types=(ModelTrained, TrainingFailed),
        retention=30 * _DAY,
        description=(
            "Outcome of each training run: ModelTrained (registered challenger) or "
            "TrainingFailed. One partition: rare events, total order."
        ),
        producers=("trainer-gpu",),
        consumers=("registry", "retrain-trigger", "monitor"),
    ),
    TopicSpec(
        name="model.decisions",
        partitions=1,
        key_field="model_name",
        event_types=(ModelPromoted, ModelRejected),
        retention=30 * _DAY,
        description=(
            "Promotion gate decisions. Every predictor replica consumes ModelPromoted in its "
            "own consumer group (broadcast, not load-balanced) and hot-swaps the model; one "
            "partition keeps decisions in order."
        ),
        producers=("registry",),
        consumers=("predictor", "retrain-trigger", "monitor"),
    ),
    TopicSpec(
        name="predictions.requests",
        partitions=12,
        key_field="customer_id",
        event_types=(PredictionRequested,),
        retention=_DAY,
        description=(
            "The hot path: prediction requests, load-balanced over the predictor replicas of "
            "one consumer group. 12 partitions allow up to 12 replicas (KEDA scales on lag); "
            "kept one day since answers are only useful within seconds."
        ),
        producers=("client", "gateway"),
        consumers=("predictor",),
    ),
    TopicSpec(
        name="predictions.results",
        partitions=12,
        key_field="customer_id",
        event_types=(PredictionMade,),
        retention=7 * _DAY,
        description=(
            "Every prediction answer (ok or error), same key and partition count as the "
            "requests. Read by streaming clients and by the monitor; kept 7 days so the "
            "monitor can replay windows."
        ),
        producers=("predictor",),
        consumers=("monitor", "client"),
    ),
    TopicSpec(
        name="predictor.status",
        partitions=1,
        key_field="replica_id",
        event_types=(PredictorModelLoaded, PredictorModelRefused),
        retention="compact",
        description=(
            "Model loads and refusals per predictor replica. Compacted by replica id, so the "
            "latest record of each replica says which version it serves."
        ),
        producers=("predictor",),
        consumers=("monitor",),
    ),
    TopicSpec(
        name="monitoring.drift",
        partitions=1,
        key_field="model_name",
        event_types=(DriftDetected,),
        retention=30 * _DAY,
        description="Per-window data drift reports; low volume, ordered on one partition.",
        producers=("monitor",),
        consumers=("retrain-trigger", "monitor"),
    ),
    TopicSpec(
        name="monitoring.performance",
        partitions=1,
        key_field="model_name",
        event_types=(PerformanceDegraded,),
        retention=30 * _DAY,
        description="Per-window live performance from delayed labels; low volume, one partition.",
        producers=("monitor",),
        consumers=("retrain-trigger", "monitor"),
    ),
    TopicSpec(
        name="projects",
        partitions=1,
        key_field="project_name",
        event_types=(ProjectApplied,),
        retention="compact",
        description="The model projects (each project's newest version per key, compacted): "
        "every service reads it from the beginning at start, then follows it; one partition "
        "keeps every project's versions in order.",
        producers=("client",),
        consumers=("ingest", "predictor", "gateway", "retrain-trigger"),
    ),
    TopicSpec(
        name="records",
        partitions=6,
        key_field="entity_id",
        event_types=(RecordObserved,),
        retention=30 * _DAY,
        description="Validated records of every model project, keyed by entity (per-entity "
        "order): what the project's features are computed from. Kept 30 days.",
        producers=("ingest",),
    ),
    TopicSpec(
        name="outcomes",
        partitions=6,
        key_field="entity_id",
        event_types=(OutcomeObserved,),
        retention=30 * _DAY,
        description="Observed labels of every model project, keyed by entity: training sets, "
        "the gate's holdout and live performance. Kept 30 days, longer than any label delay.",
        producers=("ingest",),
    ),
)
"""The catalogue of topics, in the order of the event flow."""

# --------------------------------------------------------------------------------------------
# Dead-letter topics
# --------------------------------------------------------------------------------------------

DEAD_LETTER_SUFFIX = ".dlq"

DEAD_LETTER_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "dlq_error_type": "Error code (e.g. `invalid_payload`) or exception class name.",
        "dlq_error_message": "Human-readable message saying what was wrong.",
        "dlq_original_topic": "Topic the record was consumed from.",
        "dlq_original_partition": "Partition it was consumed from (decimal).",
        "dlq_original_offset": "Offset it was consumed at (decimal).",
        "dlq_consumer_group": "Consumer group that gave up on it.",
        "dlq_failed_at": "When it was dead-lettered (RFC 3339).",
    }
)
"""Headers added to a dead-lettered record (beside its original key, value and headers)."""


def dead_letter_topic(name: str) -> str:
    """Name of the dead-letter topic of topic `name`: ``<name>.dlq``."""
    if name.endswith(DEAD_LETTER_SUFFIX):
        raise ValueError(f"{name!r} is already a dead-letter topic")
    return f"{name}{DEAD_LETTER_SUFFIX}"


def _dead_letter_spec(spec: TopicSpec) -> TopicSpec:
    return TopicSpec(
        name=dead_letter_topic(spec.name),
        partitions=1,
        key_field=spec.key_field,
        event_types=(),
        retention=14 * _DAY,
        description=(
            f"Dead letters of {spec.name}: records that failed validation or deterministic "
            "processing, unchanged, with the error in `dlq_*` headers. Kept 14 days for "
            "inspection and replay."
        ),
        producers=spec.consumers,
    )


# --------------------------------------------------------------------------------------------
# Reply topics of gateway instances
# --------------------------------------------------------------------------------------------

REPLY_TOPIC_PREFIX = "predictions.replies."
_INSTANCE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")


def reply_topic(instance_id: str) -> str:
    """Reply topic owned by one gateway instance: ``predictions.replies.<instance-id>``.

    The gateway sets it as `reply_to` in the PredictionRequested events it publishes and is its
    only consumer, so instances never see (or steal) each other's replies. `instance_id` is
    lowercase letters, digits and '-', e.g. a pod name or a random hex id.
    """
    if not _INSTANCE_ID.match(instance_id):
        raise ValueError(
            f"invalid gateway instance id {instance_id!r}: use 1-100 lowercase letters, digits "
            "and '-', not starting or ending with '-'"
        )
    return f"{REPLY_TOPIC_PREFIX}{instance_id}"


def reply_topic_spec(instance_id: str) -> TopicSpec:
    """Spec of a gateway instance's reply topic, for the instance to create at start-up."""
    return TopicSpec(
        name=reply_topic(instance_id),
        partitions=1,
        key_field="customer_id",
        event_types=(PredictionMade,),
        retention=_HOUR,
        description=(
            "Answers to the requests of one gateway instance; it alone consumes them. "
            "Replies are useless after the request deadline, so kept one hour."
        ),
        producers=("predictor",),
        consumers=("gateway",),
    )


# --------------------------------------------------------------------------------------------
# Lookups
# --------------------------------------------------------------------------------------------


def _index_by_type(topics: tuple[TopicSpec, ...]) -> Mapping[str, TopicSpec]:
    index: dict[str, TopicSpec] = {}
    names = [spec.name for spec in topics]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate topic names in the catalogue: {names}")
    for spec in topics:
        for type_name in spec.type_names:
            if type_name in index:
                raise ValueError(
                    f"event type {type_name!r} is on two topics: "
                    f"{index[type_name].name!r} and {spec.name!r}"
                )
            index[type_name] = spec
    missing = [type_name for type_name in EVENT_TYPES if type_name not in index]
    if missing:
        raise ValueError(f"event types on no topic: {missing}")
    return MappingProxyType(index)


_TOPIC_BY_TYPE = _index_by_type(TOPICS)
_TOPIC_BY_NAME: Mapping[str, TopicSpec] = MappingProxyType({t.name: t for t in TOPICS})


def topic_for(event: type[Event] | Event | str) -> TopicSpec:
    """The catalogue topic carrying an event type (given as class, instance or type string)."""
    type_name = event if isinstance(event, str) else event.event_type
    try:
        return _TOPIC_BY_TYPE[type_name]
    except KeyError:
        raise KeyError(f"unknown event type {type_name!r}") from None


def topic_spec(name: str) -> TopicSpec:
    """Spec of any topic of the mesh by name: catalogue, dead-letter or reply topic."""
    if name in _TOPIC_BY_NAME:
        return _TOPIC_BY_NAME[name]
    if name.endswith(DEAD_LETTER_SUFFIX):
        origin = _TOPIC_BY_NAME.get(name.removesuffix(DEAD_LETTER_SUFFIX))
        if origin is not None and origin.has_consumers:
            return _dead_letter_spec(origin)
    if name.startswith(REPLY_TOPIC_PREFIX):
        return reply_topic_spec(name.removeprefix(REPLY_TOPIC_PREFIX))
    raise KeyError(f"unknown topic {name!r}")


def topics_to_create() -> tuple[TopicSpec, ...]:
    """Every topic a launcher creates up front: the catalogue plus one dead-letter topic per
    consumed catalogue topic. (Reply topics are created by each gateway instance.)"""
    return TOPICS + tuple(_dead_letter_spec(spec) for spec in TOPICS if spec.has_consumers)
