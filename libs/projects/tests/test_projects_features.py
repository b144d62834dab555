"""A project's features from an entity's records: churn's project file computes exactly
what churn_features computes, and every aggregate does what the file says."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from churn_features.domain import ActivityRecord, CustomerHistory
from mlops_contracts import CustomerActivityRecorded
from mlops_projects import parse_project, read_project
from mlops_projects.features import EntityHistory, Record
from simulator import SimulationConfig, generate_history

CHURN = Path(__file__).resolve().parents[3] / "examples" / "churn"
FIELDS = (
    "tenure_months",
    "plan",
    "contract_type",
    "monthly_charges",
    "support_tickets",
    "usage_minutes",
    "sessions",
    "failed_payments",
)


def test_the_churn_project_computes_the_rows_churn_features_computes() -> None:
    project = read_project(CHURN)
    end = datetime(2026, 10, 1, tzinfo=UTC)
    activity = [
        CustomerActivityRecorded.model_validate(
            {key: value for key, value in record.items() if key != "kind"}
        )
        for record in generate_history(100, end=end, config=SimulationConfig(customers=40, seed=5))
        if record["kind"] == "activity"
    ]
    random.Random(3).shuffle(activity)  # arrival order must not matter
    compared = 0
    for customer in sorted({event.customer_id for event in activity})[:25]:
        mine = [event for event in activity if event.customer_id == customer]
        churn = CustomerHistory(customer, (ActivityRecord.from_event(e) for e in mine))
        generic = EntityHistory(
            project,
            customer,
            (
                Record(
                    e.record_id,
                    e.customer_id,
                    e.observed_at,
                    {
                        name: str(getattr(e, name))
                        if name in ("plan", "contract_type")
                        else getattr(e, name)
                        for name in FIELDS
                    },
                )
                for e in mine
            ),
        )
        times = churn.event_times()
        assert generic.event_times() == times
        for t in times:
            expected, actual = churn.as_of(t), generic.as_of(t)
            assert expected is not None
            assert actual is not None
            assert dict(actual.values) == dict(expected.values), (customer, t)
            compared += 1
    assert compared > 1000


PROJECT = """
name: shop
entity: {key: user}
time_column: at
fields:
  amount: {type: numeric, required: false}
  items: {type: integer}
  returning: {type: boolean}
  channel: {type: categorical, values: [web, app]}
features:
  - {name: channel, field: channel}
  - {name: amount_sum_7d, field: amount, aggregate: sum, window: 7d}
  - {name: amount_mean_7d, field: amount, aggregate: mean, window: 7d}
  - {name: amount_min_7d, field: amount, aggregate: min, window: 7d}
  - {name: amount_max_7d, field: amount, aggregate: max, window: 7d}
  - {name: amount_count_7d, field: amount, aggregate: count, window: 7d}
  - {name: orders_7d, aggregate: count, window: 7d}
  - {name: items_7d, field: items, aggregate: sum, window: 7d}
  - {name: returning_7d, field: returning, aggregate: sum, window: 7d}
  - {name: amount, field: amount}
  - {name: returning_max_7d, field: returning, aggregate: max, window: 7d}
label: {field: bought, positive: 'yes'}
"""
T0 = datetime(2026, 1, 10, tzinfo=UTC)


def order(
    number: int, days: float, amount: float | None, items: int, returning: bool, channel: str
) -> Record:
    values = {"amount": amount, "items": items, "returning": returning, "channel": channel}
    return Record(f"o{number}", "u1", T0 + timedelta(days=days), values)


def test_every_aggregate_over_its_window() -> None:
    history = EntityHistory(
        parse_project(PROJECT),
        "u1",
        [
            order(3, 6.0, None, 1, True, "app"),  # newest: its amount is missing
            order(1, 0.0, 10.0, 2, False, "web"),  # 7 days before the newest: out of (t-7d, t]
            order(2, 3.0, 4.5, 3, True, "web"),
            order(2, 3.0, 999.0, 9, True, "web"),  # the same record id again: ignored
        ],
    )
    assert len(history) == 3
    row = history.as_of(T0 + timedelta(days=7))
    assert row is not None
    assert dict(row.values) == {
        "channel": "app",
        "amount_sum_7d": 4.5,
        "amount_mean_7d": 4.5,
        "amount_min_7d": 4.5,
        "amount_max_7d": 4.5,
        "amount_count_7d": 1,
        "orders_7d": 2,
        "items_7d": 4,
        "returning_7d": 2,
        "amount": None,  # missing in the newest record: missing, never zero
        "returning_max_7d": 1.0,  # a boolean's extreme is a number, as its type says
    }
    first = history.as_of(T0)
    assert first is not None
    assert first.values["amount_mean_7d"] == 10.0
    assert history.as_of(T0 - timedelta(seconds=1)) is None
    assert [r.event_timestamp for r in history.rows_since(T0 + timedelta(days=3))] == [
        T0 + timedelta(days=3),
        T0 + timedelta(days=6),
    ]
    latest = history.latest_row()
    assert latest is not None
    assert latest.event_timestamp == T0 + timedelta(days=6)
    nothing = EntityHistory(
        parse_project(PROJECT),
        "u2",
        [Record("x", "u2", T0, {"amount": None, "items": 0, "returning": False, "channel": "web"})],
    ).as_of(T0)
    assert nothing is not None
    assert (nothing.values["amount_mean_7d"], nothing.values["amount_min_7d"]) == (None, None)


def test_a_record_about_another_entity_or_without_a_zone_is_refused() -> None:
    history = EntityHistory(parse_project(PROJECT), "u1")
    with pytest.raises(ValueError, match="is about 'u2', not 'u1'"):
        history.add(Record("r", "u2", T0, {}))
    with pytest.raises(ValueError, match="timezone-aware"):
        Record("r", "u1", datetime(2026, 1, 1), {})
