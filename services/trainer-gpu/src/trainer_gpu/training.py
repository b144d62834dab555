"""Training the churn classifier: a seeded, stratified split, standardisation measured on
the training part, class-weighted loss, early stopping on validation ROC AUC, and CUDA
with bfloat16 autocast when the device is a GPU. No I/O: data in, model and numbers out.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from churn_model import ChurnNet, ModelSpec, Standardisation, encode_columns, evaluate, roc_auc
from trainer_gpu.domain.training_config import TrainingConfig

VALIDATION_METRIC = "roc_auc"

REFERENCE_SAMPLE_PATH = "reference_sample.json"
"""Run artifact with a sample of the raw training features: the monitor's drift reference."""
REFERENCE_SAMPLE_FORMAT = 1
REFERENCE_SAMPLE_ROWS = 5000


class TrainingRefused(ValueError):
    """The data cannot train a model (too few rows, one class only); the message says why."""


@dataclass(frozen=True)
class EpochReport:
    """What one finished epoch measured."""

    epoch: int
    max_epochs: int
    train_loss: float
    validation_auc: float
    seconds: float
    samples_per_second: float
    eta_seconds: float


@dataclass
class TrainedModel:
    """The best epoch's network (on the CPU) with its spec and validation metrics."""

    spec: ModelSpec
    network: ChurnNet
    metrics: dict[str, float]
    best_epoch: int
    epochs_run: int
    train_rows: int
    validation_rows: int
    samples_per_second: float
    history: list[EpochReport] = field(default_factory=list)


def train_classifier(
    frame: pd.DataFrame,
    *,
    label_column: str,
    numeric_features: Sequence[str],
    categorical_features: Mapping[str, Sequence[str]],
    model_name: str,
    feature_view_version: str | None,
    config: TrainingConfig,
    device: torch.device,
    on_epoch: Callable[[EpochReport], None] = lambda _report: None,
) -> TrainedModel:
    """Train on ``frame`` (one row per labelled example, feature columns + label column)."""
    labels = frame[label_column].astype(bool).to_numpy()
    _check_trainable(labels, config)
    generator = torch.Generator().manual_seed(config.seed)
    train_index, validation_index = _stratified_split(labels, config, generator)
    train_frame = frame.iloc[train_index]
    spec = ModelSpec(
        model_name=model_name,
        numeric_features=tuple(numeric_features),
        categorical_features={name: tuple(v) for name, v in categorical_features.items()},
        standardisation={
            name: _standardisation(train_frame[name].to_numpy(dtype=np.float64))
            for name in numeric_features
        },
        hidden_sizes=config.hidden_sizes,
        dropout=config.dropout,
        feature_view_version=feature_view_version,
    )
    inputs = encode_columns({name: frame[name].to_numpy() for name in spec.feature_names}, spec)
    targets = torch.from_numpy(labels.astype(np.float32))
    x_train, y_train = inputs[train_index].to(device), targets[train_index].to(device)
    x_valid, y_valid = inputs[validation_index].to(device), targets[validation_index]

    torch.manual_seed(config.seed)  # weight initialisation and dropout masks
    network = ChurnNet(spec).to(device)
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    positives = float(y_train.sum())
    # Class imbalance: a positive weighs negatives/positives, so both classes count equally.
    loss_function = nn.BCEWithLogitsLoss(
        pos_weight=torch.tensor((len(y_train) - positives) / positives, device=device)
    )
    autocast = device.type == "cuda"
    best_auc, best_epoch, best_state = -math.inf, 0, copy.deepcopy(network.state_dict())
    history: list[EpochReport] = []
    for epoch in range(1, config.max_epochs + 1):
        started = time.perf_counter()
        network.train()
        order = torch.randperm(len(x_train), generator=generator).to(device)
        total_loss = torch.zeros((), device=device)
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
                logits = network(x_train[batch])
            loss = loss_function(logits.float(), y_train[batch])
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * len(batch)
        epoch_loss = float(total_loss) / len(x_train)
        if not math.isfinite(epoch_loss):
            raise TrainingRefused(
                f"the training loss diverged at epoch {epoch} ({epoch_loss}); lower "
                "TRAINER_LEARNING_RATE"
            )
        # Validation in float32 even on CUDA: bf16 logits would tie many scores.
        scores = _scores(network, x_valid, autocast=False)
        validation_auc = roc_auc(scores, y_valid.bool().tolist())
        seconds = time.perf_counter() - started
        if validation_auc > best_auc + config.min_improvement:
            best_auc, best_epoch = validation_auc, epoch
            best_state = copy.deepcopy(network.state_dict())
        stopping = epoch - best_epoch >= config.patience or epoch == config.max_epochs
        report = EpochReport(
            epoch=epoch,
            max_epochs=config.max_epochs,
            train_loss=epoch_loss,
            validation_auc=validation_auc,
            seconds=seconds,
            samples_per_second=len(x_train) / seconds if seconds > 0 else 0.0,
            eta_seconds=0.0 if stopping else seconds * (config.max_epochs - epoch),
        )
        history.append(report)
        on_epoch(report)
        if stopping:
            break
    network.load_state_dict(best_state)
    network = network.cpu().eval()
    final_scores = _scores(network, x_valid.cpu(), autocast=False)
    metrics = evaluate(final_scores, y_valid.bool().tolist(), spec.threshold)
    return TrainedModel(
        spec=spec,
        network=network,
        metrics=metrics,
        best_epoch=best_epoch,
        epochs_run=len(history),
        train_rows=len(train_index),
        validation_rows=len(validation_index),
        samples_per_second=float(np.mean([r.samples_per_second for r in history])),
        history=history,
    )


def reference_sample(
    frame: pd.DataFrame,
    *,
    model_name: str,
    numeric_features: Sequence[str],
    categorical_features: Mapping[str, Sequence[str]],
    feature_view_version: str | None,
    max_rows: int = REFERENCE_SAMPLE_ROWS,
    seed: int = 0,
) -> dict[str, object]:
    """A seeded sample of at most ``max_rows`` training rows of the raw (unstandardised)
    feature columns, column-wise, as the JSON document the monitor reads as its drift
    reference (format ``REFERENCE_SAMPLE_FORMAT``; see the monitor's README)."""
    rows = len(frame)
    if rows > max_rows:
        picked = np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))
        sample = frame.iloc[picked]
    else:
        sample = frame
    columns: dict[str, list[float] | list[str]] = {}
    for name in numeric_features:
        columns[name] = [float(value) for value in sample[name].to_numpy(dtype=np.float64)]
    for name in categorical_features:
        columns[name] = [str(value) for value in sample[name]]
    return {
        "format": REFERENCE_SAMPLE_FORMAT,
        "model_name": model_name,
        "feature_view_version": feature_view_version,
        "numeric_features": list(numeric_features),
        "categorical_features": {name: list(v) for name, v in categorical_features.items()},
        "training_rows": rows,
        "sample_rows": len(sample),
        "columns": columns,
    }


def _check_trainable(labels: np.ndarray, config: TrainingConfig) -> None:
    if len(labels) < config.min_rows:
        raise TrainingRefused(
            f"{len(labels)} labelled examples in the window; at least {config.min_rows} are needed"
        )
    positives = int(labels.sum())
    fewest = min(positives, len(labels) - positives)
    if fewest < config.min_class_rows:
        raise TrainingRefused(
            f"{positives} churned and {len(labels) - positives} retained examples: each "
            f"class needs at least {config.min_class_rows}"
        )


def _stratified_split(
    labels: np.ndarray, config: TrainingConfig, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The same share of each class goes to validation (seeded)."""
    train: list[np.ndarray] = []
    validation: list[np.ndarray] = []
    for value in (False, True):
        members = np.flatnonzero(labels == value)
        shuffled = members[torch.randperm(len(members), generator=generator).numpy()]
        cut = max(1, round(len(members) * config.validation_fraction))
        validation.append(shuffled[:cut])
        train.append(shuffled[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(validation))


def _standardisation(values: np.ndarray) -> Standardisation:
    std = float(values.std())
    return Standardisation(mean=float(values.mean()), std=std if std > 1e-9 else 1.0)


def _scores(network: nn.Module, inputs: torch.Tensor, autocast: bool) -> list[float]:
    network.eval()
    with (
        torch.inference_mode(),
        torch.autocast(device_type=inputs.device.type, dtype=torch.bfloat16, enabled=autocast),
    ):
        scores: list[float] = torch.sigmoid(network(inputs).float()).cpu().tolist()
    return scores
