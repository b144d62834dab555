"""The event models: registry, typing discipline, immutability, compatibility rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel, ValidationError

from mlops_contracts import (
    ALL_EVENTS,
    EVENT_TYPES,
    DriftDetected,
    Event,
    PredictionMade,
    PredictionRequested,
    TrainingProgress,
    TrainingRequested,
)
from mlops_contracts.events import _build_registry

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
Example = Callable[[type[Event]], Event]


def test_registry_has_every_event_once() -> None:
    assert len(EVENT_TYPES) == len(ALL_EVENTS) == 19
    assert set(EVENT_TYPES.values()) == set(ALL_EVENTS)
    for type_name, cls in EVENT_TYPES.items():
        assert cls.event_type == type_name


def test_types_follow_one_versioned_scheme() -> None:
    for type_name in EVENT_TYPES:
        assert re.fullmatch(r"mlops(\.[a-z]+)+\.v[1-9][0-9]*", type_name), type_name


def test_registry_refuses_two_classes_with_one_type() -> None:
    class Impostor(PredictionRequested):
        event_type = PredictionRequested.event_type

    with pytest.raises(TypeError, match="share type"):
        _build_registry((PredictionRequested, Impostor))


def test_registry_refuses_a_subclass_that_does_not_declare_its_own_type() -> None:
    class Inherited(PredictionRequested):
        pass

    with pytest.raises(TypeError, match="event_type must match"):
        _build_registry((Inherited,))


def test_registry_refuses_a_key_field_that_is_not_a_field() -> None:
    class Broken(PredictionRequested):
        event_type = "mlops.broken.v1"
        key_field = "nope"

    with pytest.raises(TypeError, match="not one of its fields"):
        _build_registry((Broken,))


def test_every_event_declares_type_key_and_description() -> None:
    for cls in ALL_EVENTS:
        assert cls.key_field in cls.model_fields
        assert cls.model_fields[cls.key_field].is_required()
        assert cls.description
        assert "\n" not in cls.description
        assert cls.__doc__


def _models(cls: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    seen.add(cls)
    for info in cls.model_fields.values():
        for arg in _flatten(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in seen:
                _models(arg, seen)


def _flatten(annotation: object) -> list[object]:
    args = getattr(annotation, "__args__", ())
    return [annotation] + [a for arg in args for a in _flatten(arg)]


def test_every_field_has_a_description_in_json_schema() -> None:
    models: set[type[BaseModel]] = set()
    for cls in ALL_EVENTS:
        _models(cls, models)
    for model in models:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"


def test_models_are_frozen(example: Example) -> None:
    event = example(PredictionMade)
    with pytest.raises(ValidationError, match="frozen"):
        setattr(event, "score", 0.1)  # noqa: B010 - assignment must fail at runtime


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    data = {
        "request_id": "r-1",
        "customer_id": "C-1",
        "requested_at": NOW.isoformat(),
        "priority": "high",  # a field a newer producer added
    }
    event = PredictionRequested.model_validate(data)
    assert not hasattr(event, "priority")
    assert "priority" not in event.model_dump()


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        PredictionRequested(request_id="r-1", customer_id="C-1", requested_at=datetime(2025, 1, 1))


@pytest.mark.parametrize("bad", ["", " ", "has space"])
def test_ids_are_non_empty_without_whitespace(bad: str) -> None:
    with pytest.raises(ValidationError, match="customer_id"):
        PredictionRequested(request_id="r-1", customer_id=bad, requested_at=NOW)


def _made(**overrides: object) -> PredictionMade:
    fields: dict[str, object] = {
        "request_id": "r-1",
        "customer_id": "C-1",
        "status": "ok",
        "score": 0.7,
        "label": True,
        "model_name": "churn-classifier",
        "model_version": 1,
        "latency_ms": 3.0,
        "replica_id": "predictor-1",
        "predicted_at": NOW,
    }
    fields.update(overrides)
    return PredictionMade.model_validate(fields)


def test_prediction_ok_needs_a_score() -> None:
    assert _made().score == 0.7
    with pytest.raises(ValidationError, match="status 'ok' requires score"):
        _made(score=None)


def test_prediction_error_needs_a_code_and_reason_and_no_score() -> None:
    error = _made(
        status="error",
        score=None,
        label=None,
        error_code="unknown_entity",
        error_reason="no features for customer C-1",
    )
    assert error.error_code == "unknown_entity"
    with pytest.raises(ValidationError, match="requires error_code and error_reason"):
        _made(status="error", score=None, label=None)
    with pytest.raises(ValidationError, match="must not carry a score"):
        _made(status="error", error_code="internal_error", error_reason="boom")


@pytest.mark.parametrize("score", [-0.01, 1.01, float("nan"), float("inf")])
def test_probabilities_stay_within_zero_and_one(score: float) -> None:
    with pytest.raises(ValidationError, match="score"):
        _made(score=score)


def test_windows_must_not_end_before_they_start(example: Example) -> None:
    request = example(TrainingRequested)
    data = request.model_dump()
    data["data_window_end"] = data["data_window_start"] - timedelta(seconds=1)
    with pytest.raises(ValidationError, match="data window ends"):
        TrainingRequested.model_validate(data)


def test_epoch_cannot_exceed_max_epochs(example: Example) -> None:
    data = example(TrainingProgress).model_dump()
    data["epoch"] = data["max_epochs"] + 1
    with pytest.raises(ValidationError, match="exceeds max_epochs"):
        TrainingProgress.model_validate(data)


def test_drift_features_are_unique(example: Example) -> None:
    data = example(DriftDetected).model_dump()
    data["features"] = [data["features"][0], data["features"][0]]
    with pytest.raises(ValidationError, match="more than once"):
        DriftDetected.model_validate(data)


def test_sha256_and_uris_are_checked(example: Example) -> None:
    data = example(DriftDetected).model_dump()
    data["report_uri"] = "not a uri"
    with pytest.raises(ValidationError, match="report_uri"):
        DriftDetected.model_validate(data)


def test_partition_key_is_the_entity(event_type: str, example: Example) -> None:
    cls = EVENT_TYPES[event_type]
    event = example(cls)
    assert event.partition_key() == str(getattr(event, cls.key_field))


def test_label_prediction_point_defaults_to_observed_at_and_never_follows_it() -> None:
    from datetime import UTC, datetime, timedelta

    import pytest
    from pydantic import ValidationError

    from mlops_contracts import LabelObserved

    observed = datetime(2026, 11, 21, 12, tzinfo=UTC)
    plain = LabelObserved(record_id="r", customer_id="c", churned=True, observed_at=observed)
    assert plain.prediction_point == observed
    decided = observed - timedelta(days=7)
    label = LabelObserved(
        record_id="r", customer_id="c", churned=True, observed_at=observed, features_as_of=decided
    )
    assert label.prediction_point == decided
    with pytest.raises(ValidationError, match="features_as_of"):
        LabelObserved(
            record_id="r",
            customer_id="c",
            churned=True,
            observed_at=observed,
            features_as_of=observed + timedelta(seconds=1),
        )
