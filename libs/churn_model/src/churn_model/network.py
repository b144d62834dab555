"""The classifier network and the input encoding, both built from a ModelSpec."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from churn_model.spec import ModelSpec, is_missing

FeatureRow = Mapping[str, float | str | None]


class MissingFeature(ValueError):
    """A row lacks a feature the model needs; the message names it."""


class ChurnNet(nn.Module):
    """A multilayer perceptron with one logit output (churn)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = spec.input_size
        for size in spec.hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(spec.dropout)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits, shape (batch,)."""
        logits: torch.Tensor = self.layers(inputs).squeeze(-1)
        return logits


def encode(rows: Sequence[FeatureRow], spec: ModelSpec) -> torch.Tensor:
    """The input matrix of ``rows`` (mappings of feature name to value); see
    :func:`encode_columns`, which does the work."""
    columns = {name: [row.get(name) for row in rows] for name in spec.feature_names}
    return encode_columns(columns, spec)


def encode_columns(columns: Mapping[str, Sequence[object]], spec: ModelSpec) -> torch.Tensor:
    """The input matrix of a batch given column-wise (feature name -> one value per row):
    standardised numerics, then one-hot categoricals, float32.

    A missing value (absent column, None, NaN, or text for a number) is refused
    (``MissingFeature`` names the feature): whoever serves a prediction must say why it
    cannot, not score a guess. An unknown category encodes as all zeros.
    """
    parts: list[np.ndarray] = []
    for name in spec.numeric_features:
        scale = spec.standardisation[name]
        values = _numeric(name, columns.get(name))
        parts.append(((values - scale.mean) / scale.std)[:, None])
    for name, vocabulary in spec.categorical_features.items():
        values = np.asarray(_present(name, columns.get(name)), dtype=object)
        parts.append(np.stack([values == value for value in vocabulary], axis=1))
    matrix = np.concatenate(parts, axis=1).astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(matrix))


def _present(name: str, values: Sequence[object] | None) -> Sequence[object]:
    if values is None:
        raise MissingFeature(f"feature {name!r} is missing")
    for value in values:
        if is_missing(value):
            raise MissingFeature(f"feature {name!r} has no value")
    return values


def _numeric(name: str, values: Sequence[object] | None) -> np.ndarray:
    if values is None:
        raise MissingFeature(f"feature {name!r} is missing")
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        array = values.astype(np.float64)
    else:
        for value in values:
            if is_missing(value) or not isinstance(value, numbers.Real):
                raise MissingFeature(f"feature {name!r} has no numeric value (got {value!r})")
        array = np.asarray(values, dtype=np.float64)
    if np.isnan(array).any():
        raise MissingFeature(f"feature {name!r} has no numeric value (got nan)")
    return array
