"""A project's features, computed in pure Python from one entity's records.

The generic form of what ``churn_features.domain`` computes for churn (and, for the churn
example's project file, the same rows: a test compares them on simulated history). A row
describes an entity *as of* an event time ``t``: each latest-value feature is the field's
value in the newest record at or before ``t``; each aggregate covers the records of the
window ``(t - window, t]`` of event time. Rows are recomputed from the whole deduplicated
history, so they do not depend on the order in which records arrived.

Aggregates: ``sum`` (exact: ``math.fsum`` for numbers, an integer for integers, the count of
true values for booleans), ``count`` (of the records, or of the field's non-missing values),
``mean``, ``min`` and ``max`` (of the non-missing values; missing when there is none). A
missing value in the newest record is a missing latest value (None), never a zero.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_contracts.projects import Feature, Project
from mlops_projects.values import Value


@dataclass(frozen=True, slots=True)
class Record:
    """One validated record of an entity: its field values as of ``observed_at``."""

    record_id: str
    entity_id: str
    observed_at: datetime
    values: Mapping[str, Value | None]

    def __post_init__(self) -> None:
        if self.observed_at.tzinfo is None:
            raise ValueError(f"record {self.record_id}: observed_at must be timezone-aware")
        object.__setattr__(self, "observed_at", self.observed_at.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """The features of one entity as of ``event_timestamp`` (None: missing)."""

    entity_id: str
    event_timestamp: datetime
    values: Mapping[str, Value | None]


class EntityHistory:
    """The records of one entity, deduplicated by record id and ordered by (event time,
    record id) whatever order they were added in, and its feature rows."""

    def __init__(self, project: Project, entity_id: str, records: Iterable[Record] = ()) -> None:
        self.project = project
        self.entity_id = entity_id
        self._features = project.inputs
        self._integer = {
            f.name for f in self._features if project.feature_type(f) in ("integer", "boolean")
        }
        self._ids: set[str] = set()
        self._keys: list[tuple[datetime, str]] = []
        self._times: list[datetime] = []
        self._records: list[Record] = []
        for record in records:
            self.add(record)

    def add(self, record: Record) -> bool:
        """Add ``record``; False (and nothing changes) when its record id is known."""
        if record.entity_id != self.entity_id:
            raise ValueError(
                f"record {record.record_id} is about {record.entity_id!r}, not {self.entity_id!r}"
            )
        if record.record_id in self._ids:
            return False
        self._ids.add(record.record_id)
        key = (record.observed_at, record.record_id)
        position = bisect_right(self._keys, key)
        self._keys.insert(position, key)
        self._times.insert(position, record.observed_at)
        self._records.insert(position, record)
        return True

    def __len__(self) -> int:
        return len(self._records)

    def event_times(self) -> list[datetime]:
        """The distinct event times of the records, ascending: where rows exist."""
        return sorted(set(self._times))

    def as_of(self, t: datetime) -> FeatureRow | None:
        """The row as of ``t``; None when no record is at or before ``t``."""
        end = bisect_right(self._times, t)
        if end == 0:
            return None
        values: dict[str, Value | None] = {}
        for feature in self._features:
            if feature.aggregate == "latest":
                assert feature.field is not None
                values[feature.name] = self._records[end - 1].values.get(feature.field)
            else:
                assert feature.window is not None
                start = bisect_right(self._times, t - feature.window)
                values[feature.name] = self._aggregate(feature, self._records[start:end])
        return FeatureRow(self.entity_id, t.astimezone(UTC), values)

    def latest_row(self) -> FeatureRow | None:
        """The row as of the newest record (what the online store serves)."""
        return self.as_of(self._times[-1]) if self._times else None

    def rows_since(self, since: datetime) -> list[FeatureRow]:
        """The rows at every record time at or after ``since``, ascending."""
        rows = [self.as_of(time) for time in self.event_times() if time >= since]
        return [row for row in rows if row is not None]

    def _aggregate(self, feature: Feature, records: list[Record]) -> Value | None:
        if feature.field is None:  # a count of records
            return len(records)
        present: list[Any] = [
            value for record in records if (value := record.values.get(feature.field)) is not None
        ]
        match feature.aggregate:
            case "count":
                return len(present)
            case "sum":
                if feature.name in self._integer:
                    return int(sum(present))
                return math.fsum(present)  # exact, then rounded: order does not matter
            case "mean":
                return math.fsum(present) / len(present) if present else None
            case "min" | "max":
                if not present:
                    return None
                extreme = min(present) if feature.aggregate == "min" else max(present)
                # A boolean's extreme is a number (the feature's declared type), 0 or 1.
                return float(extreme) if isinstance(extreme, bool) else extreme
        raise ValueError(f"feature {feature.name}: unknown aggregate {feature.aggregate}")
