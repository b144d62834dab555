"""The customer features, computed in pure Python from one customer's activity records.

A feature row describes a customer *as of* an event time ``t``: the account state of the
latest record at or before ``t``, and activity counters summed over rolling windows
``(t - window, t]`` of **event time** (``observed_at``), never of arrival order. The offline
store holds one row per distinct record time of a customer; the online store holds the row
as of the customer's latest record.

Because every row is recomputed from the whole (deduplicated) history, the rows do not
depend on the order in which the records arrived: a late record changes the rows at and
after its event time, which :meth:`CustomerHistory.rows_since` re-emits.

No Feast, pandas or I/O here: the feature service, the tests and the trainer's lineage
code all import this module cheaply.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from mlops_contracts import ContractType, Plan

if TYPE_CHECKING:
    from mlops_contracts import CustomerActivityRecorded

FeatureValue = int | float | str
"""A feature's value: ``int`` for int64 features, ``float`` for float64, ``str`` for strings."""

FeatureDtype = Literal["int64", "float64", "string"]

ENTITY_NAME = "customer"
"""The Feast entity of every churn feature."""
ENTITY_JOIN_KEY = "customer_id"
"""The entity's join key: the column entity frames and feature rows are keyed by."""
FEATURE_VIEW_NAME = "customer_activity"
"""The one feature view: account state and rolling activity aggregates per customer."""
EVENT_TIMESTAMP = "event_timestamp"
"""Column of the event time a feature row is as of (and of an entity frame's label time)."""
CREATED_TIMESTAMP = "created"
"""Column of when a feature row was computed: of two rows of one customer at the same
event time, point-in-time joins use the newer one (a correction after a late record)."""

FEATURE_LOGIC_REVISION = 1
"""Bump when the computation changes without the feature list changing (new version)."""


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """One validated activity record of a customer (the data of CustomerActivityRecorded).

    Account fields are as of ``observed_at``; counters cover the period since the
    customer's previous record.
    """

    record_id: str
    customer_id: str
    observed_at: datetime
    tenure_months: int
    plan: str
    contract_type: str
    monthly_charges: float
    support_tickets: int
    usage_minutes: float
    sessions: int
    failed_payments: int

    def __post_init__(self) -> None:
        if self.observed_at.tzinfo is None:
            raise ValueError(f"record {self.record_id}: observed_at must be timezone-aware")
        # One representation of an instant, so equal times compare and hash equal.
        object.__setattr__(self, "observed_at", self.observed_at.astimezone(UTC))

    @classmethod
    def from_event(cls, event: CustomerActivityRecorded) -> ActivityRecord:
        """The record carried by a ``CustomerActivityRecorded`` event."""
        return cls(
            record_id=event.record_id,
            customer_id=event.customer_id,
            observed_at=event.observed_at,
            tenure_months=event.tenure_months,
            plan=str(event.plan),
            contract_type=str(event.contract_type),
            monthly_charges=event.monthly_charges,
            support_tickets=event.support_tickets,
            usage_minutes=event.usage_minutes,
            sessions=event.sessions,
            failed_payments=event.failed_payments,
        )


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One feature of the view: its type and how it is computed from the records."""

    name: str
    dtype: FeatureDtype
    description: str
    source: str | None
    """Record attribute it comes from; ``None`` for a count of records."""
    window: timedelta | None = None
    """``None``: account state of the latest record at or before t. Otherwise the sum of
    ``source`` (or the count of records) with ``t - window < observed_at <= t``."""


DAY_SECONDS_VARIABLE = "MLOPS_DAY_SECONDS"


def _day_length() -> timedelta:
    """The length of a day of the business (86,400 s). A simulated business may compress
    time (the demo mesh: a day in seconds): every rolling window then spans as many records
    as it would in real days. Read once, from ``MLOPS_DAY_SECONDS``, by every process of a
    mesh alike (the launcher sets it); it enters the feature definition's version."""
    text = os.environ.get(DAY_SECONDS_VARIABLE, "86400")
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 1 <= seconds <= 86400):
        raise ValueError(f"{DAY_SECONDS_VARIABLE}={text!r}: a number of seconds in 1..86400")
    return timedelta(seconds=seconds)


DAY: timedelta = _day_length()
"""A day of the business: the unit of the rolling windows."""

FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("tenure_months", "int64", "Months since the customer joined.", "tenure_months"),
    FeatureSpec("plan", "string", "Subscription plan (basic/standard/premium).", "plan"),
    FeatureSpec(
        "contract_type",
        "string",
        "Contract commitment (month_to_month/one_year/two_year).",
        "contract_type",
    ),
    FeatureSpec("monthly_charges", "float64", "Current monthly bill.", "monthly_charges"),
    FeatureSpec(
        "support_tickets_7d",
        "int64",
        "Support tickets opened in the last 7 days.",
        "support_tickets",
        7 * DAY,
    ),
    FeatureSpec(
        "support_tickets_30d",
        "int64",
        "Support tickets opened in the last 30 days.",
        "support_tickets",
        30 * DAY,
    ),
    FeatureSpec(
        "usage_minutes_7d",
        "float64",
        "Minutes of usage in the last 7 days.",
        "usage_minutes",
        7 * DAY,
    ),
    FeatureSpec(
        "usage_minutes_30d",
        "float64",
        "Minutes of usage in the last 30 days.",
        "usage_minutes",
        30 * DAY,
    ),
    FeatureSpec("sessions_30d", "int64", "Sessions in the last 30 days.", "sessions", 30 * DAY),
    FeatureSpec(
        "failed_payments_90d",
        "int64",
        "Failed payment attempts in the last 90 days.",
        "failed_payments",
        90 * DAY,
    ),
    FeatureSpec(
        "records_30d",
        "int64",
        "Activity records in the last 30 days (engagement).",
        None,
        30 * DAY,
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)
"""Feature names in their canonical order (the order of model inputs and of vectors)."""
FEATURE_DTYPES: Mapping[str, FeatureDtype] = {spec.name: spec.dtype for spec in FEATURES}
NUMERIC_FEATURES: tuple[str, ...] = tuple(s.name for s in FEATURES if s.dtype != "string")
CATEGORICAL_FEATURES: Mapping[str, tuple[str, ...]] = {
    "plan": tuple(str(plan) for plan in Plan),
    "contract_type": tuple(str(contract) for contract in ContractType),
}
"""The string features and every value they can take (for one-hot encoding)."""

ACCOUNT_FEATURES: tuple[FeatureSpec, ...] = tuple(s for s in FEATURES if s.window is None)
ROLLING_FEATURES: tuple[FeatureSpec, ...] = tuple(s for s in FEATURES if s.window is not None)
LONGEST_WINDOW: timedelta = max(s.window for s in ROLLING_FEATURES if s.window is not None)
"""The longest rolling window: a record affects the rows up to this long after it."""
FEATURE_VIEW_TTL: timedelta = LONGEST_WINDOW
"""How long a row stays valid in a point-in-time join: past the longest window every
rolling aggregate it carries is certainly out of date."""


def _definition_version() -> str:
    definition = {
        "view": FEATURE_VIEW_NAME,
        "entity": ENTITY_JOIN_KEY,
        "ttl_s": FEATURE_VIEW_TTL.total_seconds(),
        "logic": FEATURE_LOGIC_REVISION,
        "features": [
            [s.name, s.dtype, s.source, s.window.total_seconds() if s.window else None]
            for s in FEATURES
        ],
        "categories": {name: list(values) for name, values in CATEGORICAL_FEATURES.items()},
    }
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return f"v{FEATURE_LOGIC_REVISION}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


FEATURE_VIEW_VERSION: str = _definition_version()
"""Version of the feature view definition: ``v<logic revision>-<12 hex of sha256>`` over the
view name, entity, TTL, each feature's name/type/source/window and the category values.
Any change to what a feature means changes it; recorded as ``feature_view_version`` in
FeaturesMaterialized and in every dataset snapshot."""


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """The features of one customer as of ``event_timestamp``."""

    customer_id: str
    event_timestamp: datetime
    values: Mapping[str, FeatureValue]


class CustomerHistory:
    """The retained activity records of one customer, deduplicated by ``record_id`` and
    ordered by (event time, record id), whatever order they were added in."""

    def __init__(self, customer_id: str, records: Iterable[ActivityRecord] = ()) -> None:
        self.customer_id = customer_id
        self._ids: set[str] = set()
        self._keys: list[tuple[datetime, str]] = []
        self._times: list[datetime] = []
        self._records: list[ActivityRecord] = []
        for record in records:
            self.add(record)

    def add(self, record: ActivityRecord) -> bool:
        """Add ``record``; False (and nothing changes) when its record id is known."""
        if record.customer_id != self.customer_id:
            raise ValueError(
                f"record {record.record_id} is about {record.customer_id!r}, "
                f"not {self.customer_id!r}"
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

    @property
    def records(self) -> tuple[ActivityRecord, ...]:
        """Every record in event-time order."""
        return tuple(self._records)

    @property
    def latest_time(self) -> datetime | None:
        """Event time of the newest record, or None when there is none."""
        return self._times[-1] if self._times else None

    def event_times(self) -> list[datetime]:
        """The distinct event times of the records, ascending: where rows exist."""
        times: list[datetime] = []
        for time in self._times:
            if not times or times[-1] != time:
                times.append(time)
        return times

    def as_of(self, t: datetime) -> FeatureRow | None:
        """The feature row as of ``t``: None when no record is at or before ``t``."""
        end = bisect_right(self._times, t)
        if end == 0:
            return None
        latest = self._records[end - 1]
        values: dict[str, FeatureValue] = {}
        for spec in ACCOUNT_FEATURES:
            assert spec.source is not None
            values[spec.name] = getattr(latest, spec.source)
        for spec in ROLLING_FEATURES:
            assert spec.window is not None
            start = bisect_right(self._times, t - spec.window)
            in_window = self._records[start:end]
            values[spec.name] = _aggregate(spec, in_window)
        return FeatureRow(self.customer_id, t.astimezone(UTC), values)

    def rows_since(self, since: datetime) -> list[FeatureRow]:
        """The rows at every record time at or after ``since``: what records added at or
        after ``since`` (in event time) may have changed. Ascending by event time."""
        rows = []
        for time in self.event_times():
            if time >= since:
                row = self.as_of(time)
                assert row is not None
                rows.append(row)
        return rows

    def latest_row(self) -> FeatureRow | None:
        """The row as of the newest record (what the online store serves)."""
        latest = self.latest_time
        return None if latest is None else self.as_of(latest)

    def older_than(self, horizon: datetime) -> list[ActivityRecord]:
        """Records with an event time before ``horizon`` (candidates for pruning)."""
        return [record for record in self._records if record.observed_at < horizon]


def _aggregate(spec: FeatureSpec, records: list[ActivityRecord]) -> FeatureValue:
    if spec.source is None:
        return len(records)
    values = [getattr(record, spec.source) for record in records]
    if spec.dtype == "float64":
        # fsum is exact-then-rounded: the same value whatever order records were added in.
        return math.fsum(values)
    return int(sum(values))


@dataclass(frozen=True)
class OnlineFeatures:
    """The current features of a batch of customers, from the online store."""

    features: Mapping[str, Mapping[str, FeatureValue]]
    """customer id -> feature name -> value, for every customer the store knows."""
    as_of: Mapping[str, datetime]
    """customer id -> event time of the row served (the customer's latest record)."""
    unknown: tuple[str, ...]
    """Requested ids the online store has no row for (never served as zeros), in the
    order they were asked for."""
    feature_view_version: str = FEATURE_VIEW_VERSION

    def vector(self, customer_id: str) -> tuple[FeatureValue, ...]:
        """The customer's values in :data:`FEATURE_NAMES` order; KeyError when unknown."""
        values = self.features[customer_id]
        return tuple(values[name] for name in FEATURE_NAMES)
