"""The training-set content hash and the dataset snapshot built from it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from churn_features import FEATURE_VIEW_NAME, FEATURE_VIEW_VERSION
from churn_features.snapshot import dataset_snapshot, training_frame_sha256


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "event_timestamp": pd.to_datetime(
                ["2026-03-01T00:00:00Z", "2026-03-02T12:00:00Z", "2026-03-03T00:00:00Z"]
            ),
            "churned": [True, False, True],
            "usage_minutes_30d": [0.1, np.nan, 250.5],
            "plan": ["basic", None, "premium"],
        }
    )


def test_hash_ignores_row_column_and_index_order() -> None:
    original = frame()
    shuffled = original.iloc[[2, 0, 1], ::-1]
    shuffled.index = pd.Index(["x", "y", "z"])
    assert training_frame_sha256(shuffled) == training_frame_sha256(original)


def test_hash_sees_the_same_instant_in_any_time_zone() -> None:
    moved = frame()
    moved["event_timestamp"] = moved["event_timestamp"].dt.tz_convert("Europe/Paris")
    assert training_frame_sha256(moved) == training_frame_sha256(frame())


@pytest.mark.parametrize(
    ("column", "row", "value"),
    [("usage_minutes_30d", 0, 0.1000000001), ("plan", 1, "basic"), ("churned", 2, False)],
)
def test_hash_changes_with_any_value(column: str, row: int, value: object) -> None:
    changed = frame()
    changed.loc[row, column] = value
    assert training_frame_sha256(changed) != training_frame_sha256(frame())


def test_hash_changes_with_a_renamed_column() -> None:
    renamed = frame().rename(columns={"plan": "plan_name"})
    assert training_frame_sha256(renamed) != training_frame_sha256(frame())


def test_dataset_snapshot_records_the_view_version() -> None:
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)
    snapshot = dataset_snapshot(frame(), window_start=start, window_end=end, uri="file:///x")
    assert snapshot.row_count == 3
    assert snapshot.content_sha256 == training_frame_sha256(frame())
    assert snapshot.feature_view_versions == {FEATURE_VIEW_NAME: FEATURE_VIEW_VERSION}


@pytest.mark.parametrize(("columns", "name"), [(["plan", "plan"], "plan"), (["1", 1], "1")])
def test_duplicate_column_names_are_refused(columns: list[object], name: str) -> None:
    duplicated = pd.DataFrame([["basic", "premium"]], columns=columns)
    with pytest.raises(ValueError, match=f"duplicate column names: '{name}'"):
        training_frame_sha256(duplicated)


@pytest.mark.parametrize("missing", [None, np.nan])
def test_a_missing_value_does_not_hash_like_an_empty_string(missing: object) -> None:
    with_missing = pd.DataFrame({"plan": ["basic", missing]}, dtype=object)
    with_empty = pd.DataFrame({"plan": ["basic", ""]}, dtype=object)
    assert training_frame_sha256(with_missing) != training_frame_sha256(with_empty)
    # None and NaN are both "missing": they hash alike.
    assert training_frame_sha256(with_missing) == training_frame_sha256(
        pd.DataFrame({"plan": ["basic", None]}, dtype=object)
    )
