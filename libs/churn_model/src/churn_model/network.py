"""The classifier network and the input encoding, both built from a ModelSpec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
    """The input matrix of ``rows``: standardised numerics, then one-hot categoricals.

    A missing numeric value is refused (``MissingFeature``): whoever serves a prediction
    must say why it cannot, not score a guess. An unknown category encodes as all zeros.
    """
    matrix = torch.zeros((len(rows), spec.input_size), dtype=torch.float32)
    for index, row in enumerate(rows):
        column = 0
        for name in spec.numeric_features:
            value = row.get(name)
            if is_missing(value) or isinstance(value, str):
                raise MissingFeature(f"feature {name!r} has no numeric value (got {value!r})")
            scale = spec.standardisation[name]
            matrix[index, column] = (float(value) - scale.mean) / scale.std  # type: ignore[arg-type]
            column += 1
        for name, values in spec.categorical_features.items():
            value = row.get(name)
            if is_missing(value):
                raise MissingFeature(f"feature {name!r} has no value")
            if value in values:
                matrix[index, column + values.index(str(value))] = 1.0
            column += len(values)
    return matrix
