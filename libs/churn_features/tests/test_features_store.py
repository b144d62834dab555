"""The adapter's universal suite: the same tests against the dev profile (SQLite online
store + parquet offline store, real files) and the production profile (real Redis + real
PostgreSQL, `connected`), each run in a project/table of its own."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churn_features import FEATURE_NAMES, FEATURE_VIEW_NAME, FEATURE_VIEW_VERSION
from churn_features.domain import FeatureRow
from churn_features.offline import ParquetOfflineRows
from churn_features.settings import FeatureStoreSettings
from churn_features.store import CustomerFeatureStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PROFILES = ["dev", pytest.param("production", marks=pytest.mark.connected)]


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def feature_row(customer_id: str, day: float, **overrides: Any) -> FeatureRow:
    values: dict[str, Any] = {
        "tenure_months": 12,
        "plan": "standard",
        "contract_type": "one_year",
        "monthly_charges": 50.0,
        "support_tickets_7d": 0,
        "support_tickets_30d": 1,
        "usage_minutes_7d": 70.0,
        "usage_minutes_30d": 300.0,
        "sessions_30d": 10,
        "failed_payments_90d": 0,
        "records_30d": 4,
    }
    values.update(overrides)
    assert tuple(values) == FEATURE_NAMES
    return FeatureRow(customer_id, at(day), values)


@pytest.fixture(params=PROFILES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CustomerFeatureStore]:
    if request.param == "production":
        tag = uuid.uuid4().hex[:12]
        settings = FeatureStoreSettings(
            profile="production",
            project=f"test_{tag}",
            data_dir=tmp_path,
            redis_url=request.getfixturevalue("redis_url"),
            postgres_url=request.getfixturevalue("postgres_url"),
            offline_table=f"test_features_{tag}",
        )
    else:
        settings = FeatureStoreSettings(data_dir=tmp_path / "feature_store")
    adapter = CustomerFeatureStore(settings)
    adapter.apply()
    try:
        yield adapter
    finally:
        if settings.profile == "production":
            adapter.teardown()


def entities(*rows: tuple[str, float], **columns: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": [customer for customer, _ in rows],
            "event_timestamp": [at(day) for _, day in rows],
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def test_apply_is_idempotent_and_registers_the_versioned_view(
    store: CustomerFeatureStore,
) -> None:
    store.apply()
    views = store.feast.list_feature_views()
    assert [view.name for view in views] == [FEATURE_VIEW_NAME]
    assert views[0].tags["version"] == FEATURE_VIEW_VERSION
    assert {feature.name for feature in views[0].features} == set(FEATURE_NAMES)
    assert [entity.name for entity in store.feast.list_entities()] == ["customer"]


def test_online_lookup_of_a_batch_reports_unknown_ids_as_unknown(
    store: CustomerFeatureStore,
) -> None:
    store.write(
        [
            feature_row("c1", 0, plan="basic"),
            feature_row("c1", 5, plan="premium", usage_minutes_30d=412.5),
            feature_row("c2", 3, support_tickets_30d=4),
        ]
    )
    found = store.online(["c1", "nobody", "c2", "c1"])
    assert found.unknown == ("nobody",)
    assert set(found.features) == {"c1", "c2"}
    assert (
        found.features["c1"] == feature_row("c1", 5, plan="premium", usage_minutes_30d=412.5).values
    )
    assert found.features["c2"]["support_tickets_30d"] == 4
    assert found.as_of == {"c1": at(5), "c2": at(3)}
    assert found.feature_view_version == FEATURE_VIEW_VERSION
    for spec_name, value in found.features["c1"].items():
        assert type(value) is type(feature_row("c1", 0).values[spec_name]), spec_name
    assert store.online(["x", "y"]).unknown == ("x", "y")
    assert store.online([]).features == {}


def test_online_row_is_the_newest_of_a_write_whatever_its_position(
    store: CustomerFeatureStore,
) -> None:
    store.write([feature_row("c1", 9, tenure_months=9), feature_row("c1", 2, tenure_months=2)])
    assert store.online(["c1"]).features["c1"]["tenure_months"] == 9


def test_a_correction_at_the_same_event_time_replaces_the_online_row(
    store: CustomerFeatureStore,
) -> None:
    store.write([feature_row("c1", 5, support_tickets_30d=1)])
    store.write([feature_row("c1", 5, support_tickets_30d=3)])  # a late record was counted
    found = store.online(["c1"])
    assert found.features["c1"]["support_tickets_30d"] == 3
    assert found.as_of["c1"] == at(5)


def test_historical_retrieval_is_point_in_time_correct(store: CustomerFeatureStore) -> None:
    store.write(
        [
            feature_row("c1", 0, support_tickets_30d=1, plan="basic"),
            feature_row("c1", 10, support_tickets_30d=5, plan="basic"),
            feature_row("c1", 20, support_tickets_30d=6, plan="premium"),
            feature_row("c2", 3, monthly_charges=75.25),
        ]
    )
    frame = entities(
        ("c1", -1),  # before the customer's first row: nothing
        ("c1", 0),  # exactly at a row: that row
        ("c1", 9.99),
        ("c1", 10),
        ("c1", 10),  # the same entity and time twice: both rows kept
        ("c2", 5),
        ("nobody", 5),
        ("c1", 25),
        ("c1", 111),  # more than the 90-day TTL after the last row: nothing
        churned=[True, False, True, False, True, False, True, False, True],
    )
    frame.index = pd.Index([f"row{i}" for i in range(len(frame))])
    result = store.historical(frame)

    assert list(result.index) == list(frame.index)
    assert list(result.columns) == [*frame.columns, *FEATURE_NAMES]
    pd.testing.assert_frame_equal(result[frame.columns], frame)
    assert result["support_tickets_30d"].tolist()[1:5] == [1.0, 1.0, 5.0, 5.0]
    assert result["plan"].tolist()[1:5] == ["basic"] * 4
    assert result.loc["row7", "plan"] == "premium"
    assert result.loc["row5", "monthly_charges"] == 75.25
    for missing in ("row0", "row6", "row8"):
        assert result.loc[missing, list(FEATURE_NAMES)].isna().all(), missing
        assert result.loc[missing, "plan"] is None
    assert result["tenure_months"].dtype == "float64"
    assert result["plan"].dtype == object


def test_no_future_feature_value_leaks_into_a_training_row(store: CustomerFeatureStore) -> None:
    # The customer was on a cheap plan with no failed payment, then at day 30 everything
    # changed (the kind of change that precedes a churn label).
    store.write([feature_row("c1", 0, plan="basic", failed_payments_90d=0, monthly_charges=20.0)])
    store.write(
        [feature_row("c1", 30, plan="premium", failed_payments_90d=3, monthly_charges=90.0)]
    )
    frame = entities(("c1", 30), ("c1", 29.9999), churned=[True, False])
    frame.loc[1, "event_timestamp"] = at(30) - timedelta(microseconds=1)
    result = store.historical(frame)
    before = result.iloc[1]
    assert (before["plan"], before["failed_payments_90d"], before["monthly_charges"]) == (
        "basic",
        0.0,
        20.0,
    )
    after = result.iloc[0]
    assert (after["plan"], after["failed_payments_90d"]) == ("premium", 3.0)


def test_the_newest_created_row_wins_among_rows_at_the_same_event_time(
    store: CustomerFeatureStore,
) -> None:
    created = datetime(2026, 6, 1, tzinfo=UTC)
    store.write([feature_row("c1", 10, sessions_30d=1)], created=created)
    store.write([feature_row("c1", 10, sessions_30d=2)], created=created + timedelta(hours=1))
    # Written last but computed earlier: must not win.
    store.write([feature_row("c1", 10, sessions_30d=99)], created=created - timedelta(hours=1))
    result = store.historical(entities(("c1", 15), ("c1", 10)))
    assert result["sessions_30d"].tolist() == [2.0, 2.0]


def test_historical_on_empty_inputs(store: CustomerFeatureStore) -> None:
    nothing_stored = store.historical(entities(("c1", 1), label=[1]))
    assert nothing_stored[list(FEATURE_NAMES)].isna().all().all()
    empty = store.historical(entities())
    assert empty.empty
    assert set(FEATURE_NAMES) <= set(empty.columns)


def test_historical_refuses_a_frame_without_keys(store: CustomerFeatureStore) -> None:
    with pytest.raises(ValueError, match="event_timestamp"):
        store.historical(pd.DataFrame({"customer_id": ["c1"]}))
    with pytest.raises(ValueError, match="already has feature"):
        store.historical(entities(("c1", 1), plan=["basic"]))


def test_naive_label_times_are_taken_as_utc(store: CustomerFeatureStore) -> None:
    store.write([feature_row("c1", 1, tenure_months=7)])
    frame = pd.DataFrame({"customer_id": ["c1"], "event_timestamp": [at(2).replace(tzinfo=None)]})
    assert store.historical(frame)["tenure_months"].tolist() == [7.0]


def test_ping_answers(store: CustomerFeatureStore) -> None:
    store.ping()


def test_dev_offline_files_are_merged_in_tiers(tmp_path: Path) -> None:
    rows = ParquetOfflineRows(tmp_path / "offline", fanout=3)
    rows.ensure()
    created = datetime(2026, 6, 1, tzinfo=UTC)
    for day in range(10):
        rows.append([feature_row("c1", day), feature_row("c2", day)], created)
    names = [path.name.split("-")[0] for path in rows.files()]
    # 10 appends with fanout 3: one level-2 file (9 appends), one level-0 file.
    assert sorted(names) == ["L0", "L2"]
    table = rows.read()
    assert table.num_rows == 20
    assert rows.read(customer_ids={"c2"}, until=at(4)).num_rows == 5
    assert not list((tmp_path / "offline").glob(".*.tmp"))  # no temporary file left


def test_dev_offline_appends_from_two_processes_keep_every_row_once(tmp_path: Path) -> None:
    rows = ParquetOfflineRows(tmp_path / "offline", fanout=3)
    rows.ensure()
    created = datetime(2026, 6, 1, tzinfo=UTC)
    # Two processes, each appending its own customers, merging tiers as they go. The
    # worker is the bound method itself: spawned children import only churn_features.
    batches = [
        ([feature_row(f"p{worker}-c{i}", day) for i in range(2)], created)
        for day in range(24)
        for worker in range(2)
    ]
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.starmap(rows.append, batches, chunksize=1)  # re-raises any worker's error
    table = rows.read().to_pandas()
    assert len(table) == 2 * 2 * 24
    assert not table.duplicated(["customer_id", "event_timestamp"]).any()
    assert not list((tmp_path / "offline").glob(".*.tmp"))
