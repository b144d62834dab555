"""The topic catalogue: one topic per event type, valid names, keys, DLQs, reply topics."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from mlops_contracts import (
    ALL_EVENTS,
    DEAD_LETTER_SUFFIX,
    EVENT_TYPES,
    TOPICS,
    ModelPromoted,
    PredictionMade,
    PredictionRequested,
    TopicSpec,
    dead_letter_topic,
    reply_topic,
    reply_topic_spec,
    topic_for,
    topic_spec,
    topics_to_create,
)

KAFKA_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


def test_every_event_type_is_on_exactly_one_topic() -> None:
    for cls in ALL_EVENTS:
        carriers = [t.name for t in TOPICS if cls in t.event_types]
        assert len(carriers) == 1, f"{cls.__name__} is on {carriers}"
        assert topic_for(cls).name == carriers[0]
        assert topic_for(cls.event_type) is topic_for(cls)


def test_topic_key_field_is_a_field_of_each_of_its_events() -> None:
    for spec in TOPICS:
        for cls in spec.event_types:
            assert spec.key_field == cls.key_field
            assert spec.key_field in cls.model_fields
        assert spec.type_names == tuple(cls.event_type for cls in spec.event_types)


def test_topic_names_are_valid_and_unique() -> None:
    names = [t.name for t in topics_to_create()]
    assert len(names) == len(set(names))
    for name in names:
        assert KAFKA_TOPIC_NAME.match(name), name
        assert name not in {".", ".."}
        assert "_" not in name, f"{name}: '.' and '_' collide in Kafka metric names"


def test_hot_path_topics_are_wide_enough_for_scaling() -> None:
    assert topic_for(PredictionRequested).partitions == 12
    assert topic_for(PredictionMade).partitions == 12
    assert all(t.partitions >= 1 for t in topics_to_create())


def test_dead_letter_naming() -> None:
    assert dead_letter_topic("predictions.requests") == "predictions.requests.dlq"
    with pytest.raises(ValueError, match="already a dead-letter topic"):
        dead_letter_topic("predictions.requests.dlq")


def test_every_consumed_topic_has_a_dead_letter_topic_to_create() -> None:
    created = {t.name: t for t in topics_to_create()}
    for spec in TOPICS:
        assert spec.name in created
        dlq = dead_letter_topic(spec.name)
        assert (dlq in created) == spec.has_consumers, spec.name
        if spec.has_consumers:
            assert created[dlq].partitions >= 1
            assert topic_spec(dlq) == created[dlq]
    assert all(not t.name.endswith(DEAD_LETTER_SUFFIX * 2) for t in created.values())


def test_reply_topics_follow_the_naming_rule() -> None:
    assert reply_topic("gw-7f3a") == "predictions.replies.gw-7f3a"
    spec = reply_topic_spec("gw-7f3a")
    assert spec.event_types == (PredictionMade,)
    assert topic_spec("predictions.replies.gw-7f3a") == spec
    for bad in ["", "GW", "gw_1", "-gw", "gw.1", "a" * 101]:
        with pytest.raises(ValueError, match="invalid gateway instance id"):
            reply_topic(bad)


def test_lookups_of_unknown_names_fail_clearly() -> None:
    with pytest.raises(KeyError, match="unknown topic"):
        topic_spec("no.such.topic")
    with pytest.raises(KeyError, match="unknown event type"):
        topic_for("mlops.no.such.v1")


def test_retention_intent_translates_to_kafka_config() -> None:
    status = topic_spec("predictor.status")
    assert status.topic_config() == {"cleanup.policy": "compact"}
    requests = topic_for(PredictionRequested)
    assert requests.topic_config() == {"cleanup.policy": "delete", "retention.ms": "86400000"}


def test_broadcast_topic_of_promotions_is_consumed_by_predictors() -> None:
    assert "predictor" in topic_for(ModelPromoted).consumers


def test_topic_spec_refuses_inconsistent_definitions() -> None:
    with pytest.raises(ValueError, match="keyed by"):
        TopicSpec("x.y", 1, "model_name", (PredictionMade,), timedelta(days=1), "bad key")
    with pytest.raises(ValueError, match="invalid topic name"):
        TopicSpec("Bad_Name", 1, None, (), timedelta(days=1), "bad name")
    with pytest.raises(ValueError, match="at least one partition"):
        TopicSpec("x.y", 0, None, (), timedelta(days=1), "no partitions")


def test_catalogue_covers_the_registry() -> None:
    assert {n for t in TOPICS for n in t.type_names} == set(EVENT_TYPES)


@pytest.mark.parametrize("readme_path", ["contracts/README.md", "README.md"])
def test_readme_catalogue_mentions_every_topic_and_type(
    contracts_dir: Path, readme_path: str
) -> None:
    readme = (contracts_dir.parent / readme_path).read_text()
    for spec in TOPICS:
        assert f"| `{spec.name}` | {spec.partitions} |" in readme, f"README: update {spec.name}"
    for type_name, cls in EVENT_TYPES.items():
        assert f"| `{type_name}` | {cls.__name__} | `{cls.key_field}` |" in readme, type_name
