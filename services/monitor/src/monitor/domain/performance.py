"""Live performance of a window, from its predictions joined with delayed labels.

A window's performance is judged once: as soon as ``min_labels`` of its predictions carry a
label (and, for ROC AUC, both classes are present). The threshold is the floor
``min_value``, raised to ``baseline - max_drop`` when the model's training value of the
metric is known and ``max_drop`` is set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from churn_model.metrics import roc_auc
from monitor.domain.windows import WindowKey

PerformanceMetric = Literal["roc_auc", "accuracy"]


@dataclass(frozen=True)
class PerformancePolicy:
    """Which metric, how many labels make a judgement, and when it counts as degraded."""

    metric: PerformanceMetric
    min_labels: int
    min_value: float
    max_drop: float | None = None

    def threshold(self, baseline: float | None) -> float:
        """Value below which the window counts as degraded."""
        if baseline is None or self.max_drop is None:
            return self.min_value
        return max(self.min_value, baseline - self.max_drop)


@dataclass(frozen=True)
class PerformanceJudgement:
    """The measured numbers of one window."""

    key: WindowKey
    metric: str
    value: float
    accuracy: float
    roc_auc: float | None
    threshold: float
    baseline: float | None
    labelled: int
    degraded: bool


def accuracy(predicted: Sequence[bool], truth: Sequence[bool]) -> float:
    """Share of predictions whose announced class (the model's own threshold) matches the
    outcome."""
    if not truth:
        raise ValueError("no labelled predictions")
    return sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)


@dataclass
class LabelledWindow:
    """The labelled predictions of one window, gathered until it can be judged."""

    key: WindowKey
    scores: list[float] = field(default_factory=list)
    predicted: list[bool] = field(default_factory=list)
    truth: list[bool] = field(default_factory=list)

    def add(self, score: float, predicted: bool, churned: bool) -> None:
        self.scores.append(score)
        self.predicted.append(predicted)
        self.truth.append(churned)

    def judge(
        self, policy: PerformancePolicy, baseline: float | None
    ) -> PerformanceJudgement | None:
        """The judgement, or None while there are too few labels (or one class only,
        for ROC AUC)."""
        if len(self.truth) < policy.min_labels:
            return None
        auc = roc_auc(self.scores, self.truth)
        auc_value = None if math.isnan(auc) else auc
        acc = accuracy(self.predicted, self.truth)
        value = acc if policy.metric == "accuracy" else auc_value
        if value is None:
            return None  # ROC AUC needs both outcomes among the labels: wait for more
        threshold = policy.threshold(baseline)
        return PerformanceJudgement(
            key=self.key,
            metric=policy.metric,
            value=value,
            accuracy=acc,
            roc_auc=auc_value,
            threshold=threshold,
            baseline=baseline,
            labelled=len(self.truth),
            degraded=value < threshold,
        )
