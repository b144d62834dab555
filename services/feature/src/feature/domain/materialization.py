"""What the feature service decides, free of I/O: which late records it still accepts, which
rows a batch of admitted records changes, how long records are kept, and the summary
event of a store write."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from churn_features.domain import (
    FEATURE_VIEW_NAME,
    FEATURE_VIEW_VERSION,
    LONGEST_WINDOW,
    CustomerHistory,
    FeatureRow,
)
from mlops_contracts import FeaturesMaterialized


class AdmissionOutcome(enum.Enum):
    """What became of one activity record."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    TOO_LATE = "too_late"


@dataclass(frozen=True)
class Admission:
    """The outcome for one record, with the customer's newest event time before it."""

    outcome: AdmissionOutcome
    newest_before: datetime | None = None


@dataclass(frozen=True)
class LatenessPolicy:
    """How late (in event time, behind the customer's newest record) a record may arrive.

    Records are kept for the longest feature window plus the allowed lateness behind the
    customer's newest record, so the rows an accepted late record changes are always
    recomputed from a complete history; a later record than that would be computed from
    pruned data, so it is refused instead of silently producing wrong windows.
    """

    allowed_lateness: timedelta

    def accepts(self, observed_at: datetime, newest: datetime | None) -> bool:
        """Whether a record observed at ``observed_at`` may still change the features."""
        return newest is None or observed_at >= newest - self.allowed_lateness

    def keep_from(self, newest: datetime) -> datetime:
        """Records of a customer older than this are never needed again."""
        return newest - self.allowed_lateness - LONGEST_WINDOW

    def refusal(self, record_id: str, observed_at: datetime, newest: datetime) -> str:
        """Why a record was refused, for the dead-letter headers."""
        return (
            f"record {record_id} observed at {observed_at.isoformat()} is more than "
            f"{self.allowed_lateness} older than the customer's newest record "
            f"({newest.isoformat()}): too late to correct the features"
        )


@dataclass(frozen=True)
class PendingCustomer:
    """A customer with admitted records whose rows are not written yet."""

    customer_id: str
    since: datetime
    """Earliest event time among the records admitted since the last write."""
    revision: int
    """Bumped by every admitted record: a write only settles the revision it read."""


def rows_to_write(
    histories: Mapping[str, CustomerHistory], pending: Sequence[PendingCustomer]
) -> list[FeatureRow]:
    """The rows the pending records changed: for each customer, its rows at every record
    time from the earliest newly admitted one onward (re-emitted if they existed, so the
    offline store's newest ``created`` version is the corrected one). Its newest row is
    always among them (what the online store serves)."""
    rows: list[FeatureRow] = []
    for customer in pending:
        history = histories.get(customer.customer_id)
        if history is not None:
            rows.extend(history.rows_since(customer.since))
    return rows


def prune_horizons(
    histories: Mapping[str, CustomerHistory], policy: LatenessPolicy
) -> dict[str, datetime]:
    """customer id -> event time before which its records can go (only customers that
    have such records)."""
    horizons: dict[str, datetime] = {}
    for customer_id, history in histories.items():
        newest = history.latest_time
        if newest is not None:
            horizon = policy.keep_from(newest)
            if history.older_than(horizon):
                horizons[customer_id] = horizon
    return horizons


def materialization_summary(
    rows: Sequence[FeatureRow], *, materialized_at: datetime
) -> FeaturesMaterialized | None:
    """The FeaturesMaterialized event of one store write (None for an empty write)."""
    if not rows:
        return None
    times = [row.event_timestamp for row in rows]
    return FeaturesMaterialized(
        feature_view=FEATURE_VIEW_NAME,
        feature_view_version=FEATURE_VIEW_VERSION,
        entity_count=len({row.customer_id for row in rows}),
        rows_written=len(rows),
        event_time_start=min(times),
        event_time_end=max(times),
        materialized_at=materialized_at,
    )
