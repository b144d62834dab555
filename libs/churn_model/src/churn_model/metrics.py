"""Classification metrics the trainer reports and the promotion gate compares: one
implementation, so the trainer's validation number and the gate's holdout number mean
the same thing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a
    random negative (ties count half). NaN when only one class is present."""
    score_array = np.asarray(scores, dtype=np.float64)
    label_array = np.asarray(labels, dtype=bool)
    positives = int(label_array.sum())
    negatives = len(label_array) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    order = np.argsort(score_array, kind="mergesort")
    sorted_scores = score_array[order]
    ranks = np.empty(len(score_array), dtype=np.float64)
    # Average ranks over ties (1-based), the Mann-Whitney U statistic's convention.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        ranks[order[start : start + count]] = start + (count + 1) / 2
    rank_sum = float(ranks[label_array].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def evaluate(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> dict[str, float]:
    """``roc_auc``, ``accuracy`` (at ``threshold``), ``log_loss`` and ``positive_rate`` of
    ``scores`` (probabilities) against ``labels``.

    Raises ``ValueError`` on empty or mismatched inputs or when only one class is present
    (AUC is undefined there, and a gate must not compare undefined numbers)."""
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores for {len(labels)} labels")
    if not scores:
        raise ValueError("no rows to evaluate")
    if not np.isfinite(np.asarray(scores, dtype=np.float64)).all():
        raise ValueError("scores hold NaN or infinite values: the model's output is broken")
    auc = roc_auc(scores, labels)
    if math.isnan(auc):
        raise ValueError("the labels hold only one class: ROC AUC is undefined")
    probabilities = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    truth = np.asarray(labels, dtype=bool)
    predicted = probabilities >= threshold
    loss = -np.mean(np.where(truth, np.log(probabilities), np.log(1 - probabilities)))
    return {
        "roc_auc": auc,
        "accuracy": float(np.mean(predicted == truth)),
        "log_loss": float(loss),
        "positive_rate": float(np.mean(truth)),
    }
