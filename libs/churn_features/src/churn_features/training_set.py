"""Labelled examples joined with the features as they were at each label's prediction
point: the one way the trainer builds its training set and the registry its holdout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from churn_features.domain import ENTITY_JOIN_KEY, EVENT_TIMESTAMP, FEATURE_NAMES
from churn_features.labels import Label

if TYPE_CHECKING:
    from churn_features.store import CustomerFeatureStore

LABEL_COLUMN = "churned"
OBSERVED_AT = "label_observed_at"
RECORD_ID = "label_record_id"


@dataclass(frozen=True)
class LabelledSet:
    """The joined examples, and how many labels had no features at their prediction point
    (a customer the feature store had not seen yet) and were left out."""

    frame: pd.DataFrame
    without_features: int

    @property
    def labels(self) -> list[bool]:
        """The outcome column as booleans, in row order."""
        return [bool(value) for value in self.frame[LABEL_COLUMN]]

    def feature_rows(self) -> list[dict[str, float | str | None]]:
        """One mapping per example, feature name -> value (what the model encodes)."""
        rows: list[dict[str, float | str | None]] = self.frame[list(FEATURE_NAMES)].to_dict(
            orient="records"
        )
        return rows


def labels_frame(labels: Sequence[Label]) -> pd.DataFrame:
    """The entity frame of ``labels``: customer id and prediction point (the join keys),
    the outcome, when it was observed, and the label's record id."""
    return pd.DataFrame(
        {
            ENTITY_JOIN_KEY: [label.customer_id for label in labels],
            EVENT_TIMESTAMP: pd.to_datetime([label.prediction_point for label in labels], utc=True),
            LABEL_COLUMN: [label.churned for label in labels],
            OBSERVED_AT: pd.to_datetime([label.observed_at for label in labels], utc=True),
            RECORD_ID: [label.record_id for label in labels],
        }
    )


def labelled_set(store: CustomerFeatureStore, labels: Sequence[Label]) -> LabelledSet:
    """Point-in-time join of ``labels`` with the store's historical features; examples
    whose customer had no feature row at the prediction point are dropped and counted.
    Rows come sorted by label record id, so the same labels give the same frame."""
    entities = labels_frame(labels).sort_values(RECORD_ID, kind="stable").reset_index(drop=True)
    joined = store.historical(entities)
    complete = joined[list(FEATURE_NAMES)].notna().all(axis=1)
    frame = joined[complete].reset_index(drop=True)
    return LabelledSet(frame=frame, without_features=int((~complete).sum()))
