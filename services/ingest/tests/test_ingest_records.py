"""The validation rules, record by record (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ingest.domain.records import validate_record

from mlops_contracts import CustomerActivityRecorded, LabelObserved

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # same as conftest.NOW
SKEW = timedelta(minutes=5)


def errors_of(raw: object) -> dict[str, str]:
    verdict = validate_record(0, raw, now=NOW, max_clock_skew=SKEW)
    assert verdict.event is None
    return {e.field: e.message for e in verdict.errors}


def test_valid_activity_and_label_become_contract_events(activity: Any) -> None:
    verdict = validate_record(3, activity(), now=NOW, max_clock_skew=SKEW)
    assert isinstance(verdict.event, CustomerActivityRecorded)
    assert (verdict.index, verdict.record_id, verdict.errors) == (3, "r-1", ())
    label = {
        "kind": "label",
        "record_id": "l-1",
        "customer_id": "C-1",
        "churned": True,
        "observed_at": "2026-11-21T11:30:00+00:00",
    }
    assert isinstance(validate_record(0, label, now=NOW, max_clock_skew=SKEW).event, LabelObserved)


def test_every_problem_is_reported_per_field(activity: Any) -> None:
    errors = errors_of(activity(monthly_charges=-3, plan="gold", colour="red", sessions="many"))
    assert set(errors) == {"monthly_charges", "plan", "colour", "sessions"}
    assert errors["colour"] == "unknown field"
    assert "-3" in errors["monthly_charges"]
    assert "'gold'" in errors["plan"]


def test_missing_fields_are_named(activity: Any) -> None:
    record = activity()
    del record["tenure_months"], record["customer_id"]
    assert set(errors_of(record)) == {"tenure_months", "customer_id"}


def test_timestamps_must_have_a_zone_and_not_lie_in_the_future(activity: Any) -> None:
    assert "observed_at" in errors_of(activity(observed_at="2026-11-21T11:00:00"))
    future = errors_of(activity(observed_at="2026-11-21T13:00:00Z"))
    assert "in the future" in future["observed_at"]
    within_skew = activity(observed_at="2026-11-21T12:04:00Z")
    assert validate_record(0, within_skew, now=NOW, max_clock_skew=SKEW).event is not None


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ([1, 2], "", "JSON object"),
        ({"record_id": "x"}, "kind", "'activity' or 'label'"),
        ({"kind": "purchase", "record_id": "x"}, "kind", "'purchase'"),
    ],
)
def test_unusable_records(raw: object, field: str, fragment: str) -> None:
    assert fragment in errors_of(raw)[field]
