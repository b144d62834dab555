"""A past of records written straight into the feature store, as the feature service
would have written it: for benchmarks and tests that need months of labelled history in
seconds (the mesh itself backfills through ingest, see ``mlops simulate``).

Records are ingest's JSON objects (``kind`` = ``activity`` or ``label``), validated by the
same contract events ingest publishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churn_features.domain import ActivityRecord, CustomerHistory, FeatureRow
from churn_features.labels import Label
from mlops_contracts import CustomerActivityRecorded, LabelObserved

if TYPE_CHECKING:
    from churn_features.store import CustomerFeatureStore


@dataclass(frozen=True)
class Backfill:
    """What a history amounts to: every feature row and every label."""

    rows: list[FeatureRow]
    labels: list[Label]
    label_events: list[LabelObserved]


def compute_backfill(records: Iterable[Mapping[str, Any]]) -> Backfill:
    """The feature rows (one per customer per record time) and labels of ``records``."""
    histories: dict[str, CustomerHistory] = {}
    label_events: list[LabelObserved] = []
    for record in records:
        fields = {key: value for key, value in record.items() if key != "kind"}
        if record.get("kind") == "label":
            label_events.append(LabelObserved.model_validate(fields))
            continue
        activity = ActivityRecord.from_event(CustomerActivityRecorded.model_validate(fields))
        history = histories.get(activity.customer_id)
        if history is None:
            history = histories[activity.customer_id] = CustomerHistory(activity.customer_id)
        history.add(activity)
    rows = [row for history in histories.values() for row in _all_rows(history)]
    return Backfill(
        rows=rows,
        labels=[Label.from_event(event) for event in label_events],
        label_events=label_events,
    )


def write_backfill(store: CustomerFeatureStore, backfill: Backfill, batch: int = 20_000) -> None:
    """Write the rows to the offline and online stores, in batches."""
    for start in range(0, len(backfill.rows), batch):
        store.write(backfill.rows[start : start + batch])


def _all_rows(history: CustomerHistory) -> list[FeatureRow]:
    first = history.records[0].observed_at if len(history) else None
    return history.rows_since(first) if first is not None else []
