"""The metrics trainer and gate share, and the column-wise encoding."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from churn_model import MissingFeature, ModelSpec, Standardisation, encode, encode_columns
from churn_model.metrics import evaluate, roc_auc


def pairwise_auc(scores: list[float], labels: list[bool]) -> float:
    """The definition: P(score of a positive > score of a negative), ties half."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(
        1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives)
    )
    return wins / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_the_pairwise_definition_with_ties(seed: int) -> None:
    rng = random.Random(seed)
    scores = [rng.choice([0.1, 0.2, 0.5, 0.7, 0.9, rng.random()]) for _ in range(300)]
    labels = [rng.random() < 0.3 for _ in scores]
    assert roc_auc(scores, labels) == pytest.approx(pairwise_auc(scores, labels), abs=1e-12)


def test_roc_auc_is_nan_for_one_class_and_evaluate_refuses_it() -> None:
    assert math.isnan(roc_auc([0.1, 0.9], [True, True]))
    with pytest.raises(ValueError, match="only one class"):
        evaluate([0.1, 0.9], [False, False], 0.5)
    with pytest.raises(ValueError, match="no rows"):
        evaluate([], [], 0.5)
    with pytest.raises(ValueError, match="2 scores for 1 labels"):
        evaluate([0.1, 0.2], [True], 0.5)


def test_evaluate_reports_accuracy_at_the_threshold_and_log_loss() -> None:
    metrics = evaluate([0.9, 0.2, 0.6, 0.4], [True, False, False, True], threshold=0.5)
    assert metrics["roc_auc"] == pytest.approx(0.75)
    assert metrics["accuracy"] == pytest.approx(0.5)
    expected_loss = -np.mean(np.log([0.9, 0.8, 0.4, 0.4]))
    assert metrics["log_loss"] == pytest.approx(expected_loss)
    assert metrics["positive_rate"] == pytest.approx(0.5)


SPEC = ModelSpec(
    model_name="churn",
    numeric_features=("a", "b"),
    categorical_features={"plan": ("basic", "premium")},
    standardisation={"a": Standardisation(mean=1.0, std=2.0), "b": Standardisation(mean=0, std=1)},
)


def test_columns_and_rows_encode_identically_with_numpy_values() -> None:
    rows = [
        {"a": 3, "b": np.float64(0.5), "plan": "premium"},
        {"a": np.int64(1), "b": -1.0, "plan": "gold"},  # unknown category: all zeros
    ]
    by_rows = encode(rows, SPEC)
    by_columns = encode_columns(
        {"a": np.array([3, 1]), "b": np.array([0.5, -1.0]), "plan": ["premium", "gold"]}, SPEC
    )
    expected = [[1.0, 0.5, 0.0, 1.0], [0.0, -1.0, 0.0, 0.0]]
    assert by_rows.tolist() == expected
    assert by_columns.tolist() == expected


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"b": 1.0, "plan": "basic"}, "'a'"),
        ({"a": "3", "b": 1.0, "plan": "basic"}, "'a' has no numeric value"),
        ({"a": float("nan"), "b": 1.0, "plan": "basic"}, "'a' has no numeric value"),
        ({"a": 1.0, "b": 1.0, "plan": None}, "'plan' has no value"),
    ],
)
def test_missing_values_are_refused_by_name(row: dict[str, object], message: str) -> None:
    with pytest.raises(MissingFeature, match=message):
        encode([row], SPEC)  # type: ignore[list-item]


def test_a_numeric_column_with_nan_is_refused() -> None:
    with pytest.raises(MissingFeature, match="'b'"):
        encode_columns({"a": np.array([1.0]), "b": np.array([np.nan]), "plan": ["basic"]}, SPEC)


def test_broken_scores_are_refused_not_ranked() -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        evaluate([float("nan"), 0.2, 0.7], [True, False, True], 0.5)
