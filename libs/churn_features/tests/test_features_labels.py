"""The label log on real SQLite and PostgreSQL, and the point-in-time labelled set."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from churn_features import FEATURE_NAMES
from churn_features.labels import MIGRATIONS, Label, SqlLabelLog
from churn_features.training_set import LABEL_COLUMN, labelled_set
from service_kit.database import create_engine
from service_kit.schema import migrate

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def label(record_id: str, day: float, churned: bool = False, customer: str = "c1") -> Label:
    observed = T0 + timedelta(days=day)
    return Label(record_id, customer, churned, observed - timedelta(hours=1), observed)


@pytest.fixture
async def label_log(database_url: str) -> AsyncIterator[SqlLabelLog]:
    engine = create_engine(database_url)
    await migrate(engine, [MIGRATIONS])
    yield SqlLabelLog(engine)
    await engine.dispose()


@pytest.mark.connected
async def test_labels_are_stored_once_and_selected_by_observation_time(
    label_log: SqlLabelLog,
) -> None:
    first = [label("l1", 1, True), label("l2", 2), label("l3", 3, customer="c2")]
    assert await label_log.admit(first) == 3
    assert await label_log.admit([label("l2", 2), label("l4", 4)]) == 1  # l2 is known

    window = await label_log.observed_between(T0 + timedelta(days=1), T0 + timedelta(days=3))
    assert [x.record_id for x in window] == ["l2", "l1"]  # newest first, end excluded
    assert window[1] == first[0]  # every field round-trips, times stay aware UTC
    newest = await label_log.observed_between(T0, T0 + timedelta(days=10), limit=2)
    assert [x.record_id for x in newest] == ["l4", "l3"]
    assert await label_log.count_between(T0, T0 + timedelta(days=3)) == 2
    assert await label_log.latest_observed_at() == T0 + timedelta(days=4)


@pytest.mark.connected
async def test_a_large_batch_is_split_under_the_bind_parameter_limit(
    label_log: SqlLabelLog,
) -> None:
    many = [label(f"m{i}", i / 1000) for i in range(1_200)]
    assert await label_log.admit(many) == 1_200
    assert await label_log.count_between(T0, T0 + timedelta(days=2)) == 1_200


def test_labelled_set_joins_features_as_of_each_prediction_point(churn_history: Any) -> None:
    from churn_features.store import CustomerFeatureStore

    store = CustomerFeatureStore(churn_history.store_settings)
    labels = churn_history.labels[-300:]
    stranger = Label(f"x-{uuid.uuid4()}", "nobody", True, churn_history.end, churn_history.end)
    joined = labelled_set(store, [*labels, stranger])

    assert joined.without_features == 1  # the unknown customer is dropped and counted
    assert len(joined.frame) == len(labels)
    assert list(joined.frame["label_record_id"]) == sorted(x.record_id for x in labels)
    assert joined.labels == [bool(v) for v in joined.frame[LABEL_COLUMN]]
    # Point in time: each row equals the store's own historical answer at that moment.
    one = joined.frame.iloc[7]
    expected = store.historical(joined.frame.iloc[[7]][["customer_id", "event_timestamp"]])
    for name in FEATURE_NAMES:
        assert one[name] == expected.iloc[0][name]
    assert set(joined.feature_rows()[0]) == set(FEATURE_NAMES)
