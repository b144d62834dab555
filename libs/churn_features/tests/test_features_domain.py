"""The pure feature computation: rolling windows by event time, account state, window
boundaries, duplicates, and order independence under late records."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from churn_features import domain
from churn_features.domain import (
    FEATURE_NAMES,
    FEATURE_VIEW_VERSION,
    ActivityRecord,
    CustomerHistory,
    FeatureRow,
    OnlineFeatures,
)
from mlops_contracts import CustomerActivityRecorded

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def test_rolling_windows_sum_by_event_time(record) -> None:
    history = CustomerHistory(
        "c1",
        [
            record("r1", "c1", 0, support_tickets=2, usage_minutes=10.0, failed_payments=1),
            record("r2", "c1", 20, support_tickets=1, usage_minutes=20.0, sessions=5),
            record("r3", "c1", 27, support_tickets=4, usage_minutes=30.5, sessions=1),
        ],
    )
    row = history.as_of(at(27))
    assert row is not None
    assert row.values["support_tickets_7d"] == 4  # r2, exactly 7 d before, is outside (t-7d, t]
    assert row.values["support_tickets_30d"] == 7
    assert row.values["usage_minutes_7d"] == 30.5
    assert row.values["usage_minutes_30d"] == 60.5
    assert row.values["sessions_30d"] == 9
    assert row.values["failed_payments_90d"] == 1
    assert row.values["records_30d"] == 3


def test_window_boundaries_exclude_the_start_and_include_the_end(record) -> None:
    history = CustomerHistory("c1", [record("r1", "c1", 0, support_tickets=1)])
    just_inside = history.as_of(at(30) - timedelta(microseconds=1))
    on_boundary = history.as_of(at(30))
    assert just_inside is not None
    assert on_boundary is not None
    assert just_inside.values["support_tickets_30d"] == 1
    assert on_boundary.values["support_tickets_30d"] == 0  # exactly 30 d old: out
    assert on_boundary.values["records_30d"] == 0
    assert on_boundary.values["failed_payments_90d"] == 0
    on_record = history.as_of(at(0))
    assert on_record is not None
    assert on_record.values["support_tickets_7d"] == 1  # a record counts at its own time


def test_account_state_is_the_latest_record_at_or_before_t(record) -> None:
    history = CustomerHistory(
        "c1",
        [
            record("r1", "c1", 0, plan="basic", tenure_months=1, monthly_charges=20.0),
            record("r2", "c1", 10, plan="premium", tenure_months=2, monthly_charges=80.0),
        ],
    )
    assert history.as_of(at(-1)) is None  # nothing known before the first record
    before = history.as_of(at(9.9))
    after = history.as_of(at(10))
    assert before is not None
    assert after is not None
    assert (before.values["plan"], before.values["monthly_charges"]) == ("basic", 20.0)
    assert (after.values["plan"], after.values["tenure_months"]) == ("premium", 2)
    assert history.latest_row() == after


def test_a_row_has_every_feature_with_its_type(record) -> None:
    row = CustomerHistory("c1", [record("r1", "c1", 0)]).latest_row()
    assert row is not None
    assert tuple(row.values) == FEATURE_NAMES
    for spec in domain.FEATURES:
        expected = {"int64": int, "float64": float, "string": str}[spec.dtype]
        assert type(row.values[spec.name]) is expected, spec.name


def test_duplicates_are_ignored(record) -> None:
    history = CustomerHistory("c1", [record("r1", "c1", 0, support_tickets=3)])
    assert history.add(record("r1", "c1", 0, support_tickets=3)) is False
    # A re-sent record id with other content is still the same record: first one wins.
    assert history.add(record("r1", "c1", 5, support_tickets=9)) is False
    assert len(history) == 1
    row = history.latest_row()
    assert row is not None
    assert row.values["support_tickets_30d"] == 3


def test_records_at_the_same_instant_make_one_row(record) -> None:
    history = CustomerHistory(
        "c1",
        [record("r-b", "c1", 1, plan="premium"), record("r-a", "c1", 1, plan="basic")],
    )
    rows = history.rows_since(at(0))
    assert len(rows) == 1
    assert rows[0].values["records_30d"] == 2
    assert rows[0].values["plan"] == "premium"  # ties broken by record id: r-b after r-a


def test_record_of_another_customer_is_refused(record) -> None:
    with pytest.raises(ValueError, match="is about 'c2'"):
        CustomerHistory("c1").add(record("r1", "c2", 0))


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ActivityRecord("r", "c", datetime(2026, 1, 1), 1, "basic", "one_year", 1.0, 0, 0.0, 0, 0)


def test_a_late_record_re_emits_the_rows_at_and_after_it(record) -> None:
    history = CustomerHistory("c1", [record("r1", "c1", 0), record("r3", "c1", 20)])
    history.add(record("r2", "c1", 10, support_tickets=5))
    rows = history.rows_since(at(10))
    assert [row.event_timestamp for row in rows] == [at(10), at(20)]
    assert rows[-1].values["support_tickets_30d"] == 7
    assert rows[-1] == history.latest_row()


def _streamed(records: list[ActivityRecord]) -> dict[tuple[str, datetime], FeatureRow]:
    """What an append-only store ends up serving when records arrive in this order and each
    arrival re-emits rows_since(its time): per (customer, time), the last row written."""
    histories: dict[str, CustomerHistory] = {}
    table: dict[tuple[str, datetime], FeatureRow] = {}
    for item in records:
        history = histories.setdefault(item.customer_id, CustomerHistory(item.customer_id))
        if history.add(item):
            for row in history.rows_since(item.observed_at):
                table[(row.customer_id, row.event_timestamp)] = row
    return table


def _batch(records: list[ActivityRecord]) -> dict[tuple[str, datetime], FeatureRow]:
    histories: dict[str, CustomerHistory] = {}
    for item in records:
        histories.setdefault(item.customer_id, CustomerHistory(item.customer_id)).add(item)
    return {
        (row.customer_id, row.event_timestamp): row
        for history in histories.values()
        for row in history.rows_since(datetime.min.replace(tzinfo=UTC))
    }


@pytest.mark.parametrize("seed", range(5))
def test_out_of_order_and_duplicated_arrival_gives_the_in_order_rows(record, seed: int) -> None:
    rng = random.Random(seed)
    records = [
        record(
            f"r{i}",
            f"c{i % 3}",
            rng.uniform(0, 120),
            support_tickets=rng.randint(0, 3),
            usage_minutes=rng.uniform(0, 500),
            sessions=rng.randint(0, 9),
            failed_payments=rng.randint(0, 1),
            plan=rng.choice(["basic", "standard", "premium"]),
            tenure_months=i,
        )
        for i in range(60)
    ]
    in_order = sorted(records, key=lambda item: item.observed_at)
    shuffled = records + rng.sample(records, 15)  # duplicates too
    rng.shuffle(shuffled)
    expected = _streamed(in_order)
    assert _streamed(shuffled) == expected
    assert expected == _batch(records)


def test_float_sums_do_not_depend_on_arrival_order(record) -> None:
    minutes = [0.1, 0.2, 0.3, 1e-9, 123.456]
    forward = CustomerHistory(
        "c", [record(f"r{i}", "c", i / 10, usage_minutes=m) for i, m in enumerate(minutes)]
    )
    backward = CustomerHistory(
        "c",
        [
            record(f"r{i}", "c", i / 10, usage_minutes=m)
            for i, m in reversed(list(enumerate(minutes)))
        ],
    )
    assert forward.latest_row() == backward.latest_row()


def test_from_event_carries_every_field() -> None:
    event = CustomerActivityRecorded(
        record_id="r1",
        customer_id="C-1",
        observed_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        tenure_months=4,
        plan="premium",
        contract_type="two_year",
        monthly_charges=99.5,
        support_tickets=2,
        usage_minutes=30.0,
        sessions=7,
        failed_payments=1,
    )
    converted = ActivityRecord.from_event(event)
    assert converted.plan == "premium"
    assert converted.contract_type == "two_year"
    assert converted.observed_at == event.observed_at
    assert (converted.sessions, converted.failed_payments) == (7, 1)


def test_version_names_the_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    assert re.fullmatch(r"v\d+-[0-9a-f]{12}", FEATURE_VIEW_VERSION)
    assert domain._definition_version() == FEATURE_VIEW_VERSION  # deterministic
    monkeypatch.setattr(domain, "FEATURES", domain.FEATURES[:-1])
    assert domain._definition_version() != FEATURE_VIEW_VERSION


def test_online_features_vector_is_in_feature_order(record) -> None:
    row = CustomerHistory("c1", [record("r1", "c1", 0)]).latest_row()
    assert row is not None
    online = OnlineFeatures(features={"c1": row.values}, as_of={"c1": at(0)}, unknown=("c9",))
    assert online.vector("c1") == tuple(row.values[name] for name in FEATURE_NAMES)
    with pytest.raises(KeyError):
        online.vector("c9")
