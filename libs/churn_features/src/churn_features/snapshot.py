"""Lineage of a training set: a content hash that does not depend on row or column order,
and the ``DatasetSnapshot`` the trainer records with every model version."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pandas as pd

from churn_features.domain import FEATURE_VIEW_NAME, FEATURE_VIEW_VERSION
from mlops_contracts import DatasetSnapshot


def training_frame_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of ``frame``'s content: column names and cell values, whatever the order of
    rows and columns and whatever the index. Timestamps count as UTC instants (ISO 8601),
    numbers by their shortest round-trip text, missing values (None, NaN, NaT) as a marker
    cell ("\\x1e", so unlike ""); so the same training set always hashes the same, and any
    changed value changes the hash. Duplicate column names (as text) raise ``ValueError``."""
    names = [str(column) for column in frame.columns]
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(
            f"training frame has duplicate column names: {', '.join(map(repr, duplicates))}"
        )
    columns = sorted(names)
    renamed = frame.set_axis(names, axis=1)
    canonical = pd.DataFrame(
        {column: _canonical_text(renamed[column]) for column in columns}, index=None
    ).reset_index(drop=True)
    if columns:
        canonical = canonical.sort_values(columns, kind="stable").reset_index(drop=True)
    digest = hashlib.sha256()
    digest.update(("\x1f".join(columns) + "\n").encode())
    for line in canonical.itertuples(index=False, name=None):
        digest.update(("\x1f".join(line) + "\n").encode())
    return digest.hexdigest()


def dataset_snapshot(
    frame: pd.DataFrame, *, window_start: datetime, window_end: datetime, uri: str | None = None
) -> DatasetSnapshot:
    """The lineage record of a training frame built from the churn features."""
    return DatasetSnapshot(
        window_start=window_start,
        window_end=window_end,
        row_count=len(frame),
        content_sha256=training_frame_sha256(frame),
        feature_view_versions={FEATURE_VIEW_NAME: FEATURE_VIEW_VERSION},
        uri=uri,
    )


_MISSING = "\x1e"
"""A missing cell's text (None, NaN, NaT): not "" nor any text a training value has (not
NUL, which numpy strings drop)."""


def _canonical_text(column: pd.Series) -> pd.Series:
    missing = column.isna()
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        text = column.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    elif pd.api.types.is_datetime64_dtype(column.dtype):
        text = column.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    else:
        text = column.map(str)
    return text.where(~missing, _MISSING).astype(str)
