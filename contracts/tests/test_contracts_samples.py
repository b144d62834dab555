"""Golden samples: records frozen on the wire must keep decoding (compatibility guard)."""

from __future__ import annotations

from typing import Any

from mlops_contracts import EVENT_TYPES, decode, topic_for


def test_exactly_one_sample_per_registered_event_type(samples: list[Any]) -> None:
    types = [s.event_type for s in samples]
    assert sorted(types) == sorted(set(types)), "two samples for one event type"
    missing = sorted(set(EVENT_TYPES) - set(types))
    assert not missing, f"add a golden sample in contracts/samples/ for: {missing}"
    unknown = sorted(set(types) - set(EVENT_TYPES))
    assert not unknown, f"samples of unregistered types: {unknown}"


def test_sample_file_is_named_after_its_type(samples: list[Any]) -> None:
    for sample in samples:
        assert sample.path.name == f"{sample.event_type}.json"


def test_every_sample_decodes_into_its_event_type(samples: list[Any]) -> None:
    for sample in samples:
        cls = EVENT_TYPES[sample.event_type]
        envelope = decode(
            sample.value, sample.headers, key=sample.key, topic=sample.topic, expected_types=cls
        )
        assert type(envelope.data) is cls, sample.path.name
        assert envelope.data.partition_key() == sample.key.decode()
        assert envelope.subject == sample.key.decode()
        assert sample.topic == topic_for(cls).name, f"{sample.path.name}: topic moved"


def test_every_sample_field_is_still_understood(samples: list[Any]) -> None:
    # A field of a frozen sample that the model no longer knows would be silently ignored
    # (extra="ignore"): that is a removed or renamed field, i.e. a breaking change.
    for sample in samples:
        cls = EVENT_TYPES[sample.event_type]
        unknown = set(sample.raw_value) - set(cls.model_fields)
        assert not unknown, f"{sample.path.name}: fields no longer in {cls.__name__}: {unknown}"
