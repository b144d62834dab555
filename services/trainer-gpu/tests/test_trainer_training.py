"""The training computation on synthetic data: it learns, it is seeded, it stops early,
it weighs the rare class, and it refuses data it cannot learn from."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from trainer_gpu.domain.training_config import TrainingConfig
from trainer_gpu.training import (
    EpochReport,
    TrainedModel,
    TrainingRefused,
    reference_sample,
    train_classifier,
)

from churn_model import encode
from churn_model.metrics import roc_auc

CPU = torch.device("cpu")


def synthetic(rows: int, positive_share: float, seed: int = 0) -> pd.DataFrame:
    """Churn driven by usage (low) and plan (basic), with noise."""
    rng = np.random.default_rng(seed)
    usage = rng.normal(100, 30, rows)
    plan = rng.choice(["basic", "premium"], rows)
    logit = -0.05 * (usage - 100) + np.where(plan == "basic", 1.0, -1.0)
    cut = np.quantile(logit + rng.normal(0, 0.5, rows), 1 - positive_share)
    churned = logit + rng.normal(0, 0.5, rows) >= cut
    return pd.DataFrame({"usage": usage, "plan": plan, "churned": churned})


def train(frame: pd.DataFrame, **config: Any) -> TrainedModel:
    return train_classifier(
        frame,
        label_column="churned",
        numeric_features=("usage",),
        categorical_features={"plan": ("basic", "premium")},
        model_name="churn",
        feature_view_version="v-test",
        config=TrainingConfig(**{"max_epochs": 15, **config}),
        device=CPU,
    )


def test_it_learns_and_reports_every_epoch() -> None:
    reports: list[EpochReport] = []
    model = train_classifier(
        synthetic(3000, 0.3),
        label_column="churned",
        numeric_features=("usage",),
        categorical_features={"plan": ("basic", "premium")},
        model_name="churn",
        feature_view_version="v-test",
        config=TrainingConfig(max_epochs=8, patience=8),
        device=CPU,
        on_epoch=reports.append,
    )
    assert model.metrics["roc_auc"] > 0.85
    assert model.epochs_run == len(reports) == 8
    assert [r.epoch for r in reports] == list(range(1, 9))
    assert reports[-1].eta_seconds == 0.0
    assert model.train_rows + model.validation_rows == 3000
    # The spec carries the standardisation measured on the training split.
    assert model.spec.standardisation["usage"].mean == pytest.approx(100, abs=3)
    assert model.spec.feature_view_version == "v-test"


def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not() -> None:
    frame = synthetic(800, 0.3)
    first, again, other = (train(frame, seed=s) for s in (1, 1, 2))
    weights = [m.network.state_dict()["layers.0.weight"] for m in (first, again, other)]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


def test_early_stopping_ends_before_max_epochs_and_keeps_the_best_epoch() -> None:
    model = train(synthetic(2000, 0.3), max_epochs=60, patience=2, learning_rate=0.05)
    assert model.epochs_run < 60
    history = model.history
    best = max(history, key=lambda r: r.validation_auc)
    assert model.best_epoch == best.epoch
    assert model.epochs_run - model.best_epoch == 2


def test_the_rare_class_is_weighed_so_it_is_still_predicted() -> None:
    frame = synthetic(4000, 0.05)
    model = train(frame, max_epochs=10)
    positives = frame[frame["churned"]]
    scores = model.network(encode(positives.to_dict("records"), model.spec)).sigmoid()
    recall = float((scores >= 0.5).float().mean())
    assert recall > 0.6  # unweighted, a 5% class mostly scores below 0.5


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (synthetic(150, 0.3), "150 labelled examples in the window; at least 200"),
        (synthetic(500, 0.3).assign(churned=False), "0 churned and 500 retained"),
    ],
)
def test_data_it_cannot_learn_from_is_refused(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(TrainingRefused, match=message):
        train(frame)


def test_scores_of_the_trained_network_match_the_validation_metric() -> None:
    frame = synthetic(1000, 0.3)
    model = train(frame)
    scores = torch.sigmoid(model.network(encode(frame.to_dict("records"), model.spec)))
    assert 0.8 < roc_auc(scores.tolist(), frame["churned"].tolist()) <= 1.0


def test_the_reference_sample_is_a_seeded_subset_of_the_raw_columns() -> None:
    frame = synthetic(800, 0.3)
    document = reference_sample(
        frame,
        model_name="m",
        numeric_features=["usage"],
        categorical_features={"plan": ["basic", "premium"]},
        feature_view_version="v1",
        max_rows=300,
        seed=3,
    )
    again = reference_sample(
        frame,
        model_name="m",
        numeric_features=["usage"],
        categorical_features={"plan": ["basic", "premium"]},
        feature_view_version="v1",
        max_rows=300,
        seed=3,
    )
    assert document == again
    columns: Any = document["columns"]
    assert document["training_rows"] == 800
    assert document["sample_rows"] == len(columns["usage"]) == len(columns["plan"]) == 300
    assert set(columns["usage"]) <= set(frame["usage"])  # raw values, not standardised
    assert set(columns["plan"]) <= {"basic", "premium"}
    small = reference_sample(
        frame.head(50),
        model_name="m",
        numeric_features=["usage"],
        categorical_features={"plan": ["basic", "premium"]},
        feature_view_version=None,
    )
    assert small["sample_rows"] == 50
