"""Joining delayed labels to the predictions they judge.

The join rule (see the README): a ``LabelObserved`` for customer C resolves

1. the prediction whose ``request_id`` the label names (``prediction_request_id``), when the
   label names one and that prediction is still remembered; otherwise
2. the latest ``ok`` prediction for C made at or before the label's prediction point
   (``features_as_of``, else ``observed_at``) and no more than ``max_delay`` before it.

Each prediction is resolved at most once (a second label for it is a duplicate). Only ``ok``
predictions are remembered; the store is bounded: ``per_customer`` newest predictions per
customer, ``max_customers`` customers (the least recently predicted are forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from monitor.domain.windows import WindowKey


@dataclass(frozen=True)
class RememberedPrediction:
    """What a label needs from a prediction: its window, score and predicted class."""

    request_id: str
    customer_id: str
    predicted_at: datetime
    score: float
    label: bool
    window: WindowKey


class JoinOutcome(StrEnum):
    """What happened to a label."""

    JOINED = "joined"
    UNMATCHED = "unmatched"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Join:
    """A label joined with its prediction."""

    prediction: RememberedPrediction
    churned: bool


class PredictionLog:
    """Recent ``ok`` predictions per customer, bounded in customers and per customer."""

    def __init__(self, *, max_customers: int, per_customer: int, max_delay: timedelta) -> None:
        if max_customers < 1 or per_customer < 1:
            raise ValueError("the prediction log needs room for at least one prediction")
        self.max_customers = max_customers
        self.per_customer = per_customer
        self.max_delay = max_delay
        self._by_customer: OrderedDict[str, list[RememberedPrediction]] = OrderedDict()
        self._resolved: set[str] = set()

    def __len__(self) -> int:
        return sum(len(kept) for kept in self._by_customer.values())

    def remember(self, prediction: RememberedPrediction) -> None:
        """Keep ``prediction`` (newest ``per_customer`` per customer stay)."""
        kept = self._by_customer.get(prediction.customer_id)
        if kept is None:
            kept = self._by_customer[prediction.customer_id] = []
        else:
            self._by_customer.move_to_end(prediction.customer_id)
        if any(p.request_id == prediction.request_id for p in kept):
            return  # a redelivered prediction
        kept.append(prediction)
        kept.sort(key=lambda p: p.predicted_at)
        for forgotten in kept[: -self.per_customer]:
            self._resolved.discard(forgotten.request_id)
        del kept[: -self.per_customer]
        while len(self._by_customer) > self.max_customers:
            _, evicted = self._by_customer.popitem(last=False)
            for forgotten in evicted:
                self._resolved.discard(forgotten.request_id)

    def resolve(
        self,
        *,
        customer_id: str,
        churned: bool,
        prediction_point: datetime,
        request_id: str | None = None,
    ) -> tuple[JoinOutcome, Join | None]:
        """Apply the join rule to one label."""
        kept = self._by_customer.get(customer_id, [])
        match: RememberedPrediction | None = None
        if request_id is not None:
            match = next((p for p in kept if p.request_id == request_id), None)
        if match is None:
            earliest = prediction_point - self.max_delay
            candidates = [p for p in kept if earliest <= p.predicted_at <= prediction_point]
            match = candidates[-1] if candidates else None
        if match is None:
            return JoinOutcome.UNMATCHED, None
        if match.request_id in self._resolved:
            return JoinOutcome.DUPLICATE, None
        self._resolved.add(match.request_id)
        return JoinOutcome.JOINED, Join(match, churned)
