"""The service's pure decisions: lateness, which rows a batch rewrites, pruning, summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feature.domain.materialization import (
    LatenessPolicy,
    PendingCustomer,
    materialization_summary,
    prune_horizons,
    rows_to_write,
)

from churn_features.domain import (
    FEATURE_VIEW_NAME,
    FEATURE_VIEW_VERSION,
    LONGEST_WINDOW,
    ActivityRecord,
    CustomerHistory,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = LatenessPolicy(timedelta(days=14))


def record(record_id: str, customer_id: str, day: float) -> ActivityRecord:
    return ActivityRecord(
        record_id, customer_id, T0 + timedelta(days=day), 1, "basic", "one_year", 10.0, 1, 5.0, 1, 0
    )


def test_lateness_policy_accepts_up_to_the_allowed_lateness() -> None:
    newest = T0 + timedelta(days=30)
    assert POLICY.accepts(T0, None)  # a customer's first record
    assert POLICY.accepts(newest + timedelta(days=1), newest)
    assert POLICY.accepts(newest - timedelta(days=14), newest)
    assert not POLICY.accepts(newest - timedelta(days=14, seconds=1), newest)
    assert "too late" in POLICY.refusal("r1", T0, newest)


def test_records_are_kept_for_the_longest_window_plus_the_lateness() -> None:
    newest = T0 + timedelta(days=200)
    assert POLICY.keep_from(newest) == newest - LONGEST_WINDOW - timedelta(days=14)


def test_rows_to_write_start_at_the_earliest_new_record() -> None:
    histories = {
        "c1": CustomerHistory(
            "c1", [record("a", "c1", 0), record("b", "c1", 5), record("c", "c1", 9)]
        ),
        "c2": CustomerHistory("c2", [record("d", "c2", 1)]),
    }
    pending = [
        PendingCustomer("c1", T0 + timedelta(days=5), 2),
        PendingCustomer("c2", T0 + timedelta(days=1), 1),
        PendingCustomer("gone", T0, 1),  # no records left: nothing to write
    ]
    rows = rows_to_write(histories, pending)
    assert [(row.customer_id, (row.event_timestamp - T0).days) for row in rows] == [
        ("c1", 5),
        ("c1", 9),
        ("c2", 1),
    ]


def test_prune_horizons_only_name_customers_with_prunable_records() -> None:
    histories = {
        "old": CustomerHistory("old", [record("a", "old", 0), record("b", "old", 200)]),
        "young": CustomerHistory("young", [record("c", "young", 0), record("d", "young", 10)]),
    }
    horizons = prune_horizons(histories, POLICY)
    assert horizons == {"old": T0 + timedelta(days=200) - LONGEST_WINDOW - timedelta(days=14)}


def test_summary_of_a_write() -> None:
    history = CustomerHistory("c1", [record("a", "c1", 0), record("b", "c1", 3)])
    rows = [*history.rows_since(T0), *CustomerHistory("c2", [record("c", "c2", 1)]).rows_since(T0)]
    now = datetime(2026, 4, 1, tzinfo=UTC)
    summary = materialization_summary(rows, materialized_at=now)
    assert summary is not None
    assert summary.feature_view == FEATURE_VIEW_NAME
    assert summary.feature_view_version == FEATURE_VIEW_VERSION
    assert (summary.entity_count, summary.rows_written) == (2, 3)
    assert (summary.event_time_start, summary.event_time_end) == (T0, T0 + timedelta(days=3))
    assert materialization_summary([], materialized_at=now) is None
