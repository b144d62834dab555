"""The validation rules, record by record (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ingest.domain.records import validate_record

from mlops_contracts import (
    CustomerActivityRecorded,
    LabelObserved,
    OutcomeObserved,
    RecordObserved,
)
from mlops_projects import parse_project
from service_kit import ProjectCatalog
from service_kit.testing import applied

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # same as conftest.NOW
SKEW = timedelta(minutes=5)
SHOP = parse_project("""
name: shop
entity: {key: user}
fields:
  amount: {type: numeric, required: false}
  items: {type: integer}
  returning: {type: boolean}
  channel: {type: categorical, values: [web, app]}
label: {field: bought, positive: 'yes'}
""")
PROJECTS = ProjectCatalog([applied(SHOP, version=3)])


def errors_of(raw: object) -> dict[str, str]:
    verdict = validate_record(0, raw, now=NOW, max_clock_skew=SKEW, projects=PROJECTS)
    assert verdict.event is None
    return {e.field: e.message for e in verdict.errors}


def test_valid_activity_and_label_become_contract_events(activity: Any) -> None:
    verdict = validate_record(3, activity(), now=NOW, max_clock_skew=SKEW, projects=PROJECTS)
    assert isinstance(verdict.event, CustomerActivityRecorded)
    assert (verdict.index, verdict.record_id, verdict.errors) == (3, "r-1", ())
    label = {
        "kind": "label",
        "record_id": "l-1",
        "customer_id": "C-1",
        "churned": True,
        "observed_at": "2026-11-21T11:30:00+00:00",
    }
    assert isinstance(
        validate_record(0, label, now=NOW, max_clock_skew=SKEW, projects=PROJECTS).event,
        LabelObserved,
    )


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
    assert (
        validate_record(0, within_skew, now=NOW, max_clock_skew=SKEW, projects=PROJECTS).event
        is not None
    )


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


def record(**changes: Any) -> dict[str, Any]:
    values = {"amount": 12.5, "items": 2, "returning": False, "channel": "web"}
    raw = {
        "kind": "record",
        "project": "shop",
        "record_id": "r-1",
        "entity_id": "u1",
        "observed_at": "2026-11-21T11:00:00Z",
        "values": values,
    }
    return raw | changes


def test_a_project_record_is_checked_against_the_projects_fields() -> None:
    verdict = validate_record(0, record(), now=NOW, max_clock_skew=SKEW, projects=PROJECTS)
    assert isinstance(verdict.event, RecordObserved)
    assert verdict.event.project_version == 3  # the applied version it was checked against
    assert verdict.event.values == {
        "amount": 12.5,
        "items": 2,
        "returning": False,
        "channel": "web",
    }
    sparse = record(values={"items": 2.0, "returning": True, "channel": "app"})
    event = validate_record(0, sparse, now=NOW, max_clock_skew=SKEW, projects=PROJECTS).event
    assert isinstance(event, RecordObserved)
    assert event.values == {"amount": None, "items": 2, "returning": True, "channel": "app"}


def test_every_problem_of_a_project_record_is_named() -> None:
    bad = record(
        values={"amount": "12", "items": 2.5, "returning": "no", "channel": "tv", "extra": 1},
        project_version=9,
    )
    assert errors_of(bad) == {
        "project_version": "unknown field",
        "values.extra": "no such field in the project",
        "values.amount": "'12' is not a number",
        "values.items": "2.5 is not an integer",
        "values.returning": "'no' is not true or false",
        "values.channel": "'tv' is not one of web, app",
    }
    assert errors_of(record(values={"amount": 1.0})) == {
        "values.items": "is required",
        "values.returning": "is required",
        "values.channel": "is required",
    }
    assert errors_of(record(values=[1, 2])) == {
        "values": "Input should be a valid dictionary (got [1, 2])"
    }


def test_a_record_or_outcome_of_a_project_never_applied_is_rejected() -> None:
    unknown = errors_of(record(project="9KKGy"))
    assert unknown["project"].startswith("no model project named '9KKGy' (applied: shop)")
    assert set(unknown) == {"project"}  # nothing about project_version, ingest's to fill in
    huge = errors_of(
        record(values={"amount": 10**400, "items": 1, "returning": True, "channel": "web"})
    )
    assert set(huge) == {"values.amount"}  # too large for a number: a field error, not a 500
    outcome = {
        "kind": "outcome",
        "project": "9KKGy",
        "record_id": "o-1",
        "entity_id": "u1",
        "positive": True,
        "observed_at": "2026-11-21T11:00:00Z",
    }
    assert "project" in errors_of(outcome)
    good = validate_record(
        0, outcome | {"project": "shop"}, now=NOW, max_clock_skew=SKEW, projects=PROJECTS
    )
    assert isinstance(good.event, OutcomeObserved)
    late_decision = outcome | {"project": "shop", "as_of": "2026-11-21T11:30:00Z"}
    assert "as_of .. observed_at" in " ".join(errors_of(late_decision).values())
