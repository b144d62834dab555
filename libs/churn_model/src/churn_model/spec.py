"""The model spec: everything besides the weights that inference needs, as plain JSON.

Trainer, registry and predictor rebuild the same network and the same input encoding from
it, so they agree exactly; nothing in an artifact is ever unpickled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

SPEC_FORMAT = 1

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Standardisation(BaseModel):
    """(value - mean) / std for one numeric feature, as measured on the training set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean: float = Field(allow_inf_nan=False)
    std: float = Field(gt=0, allow_inf_nan=False)


class ModelSpec(BaseModel):
    """Architecture, input encoding and decision threshold of one trained model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = Field(default=SPEC_FORMAT, description="Spec format version.")
    model_name: str = Field(min_length=1, description="Registered model name.")
    numeric_features: tuple[str, ...] = Field(
        description="Numeric inputs, in this order, standardised with `standardisation`."
    )
    categorical_features: Mapping[str, tuple[str, ...]] = Field(
        description="Categorical inputs, one-hot over these values in this order; a value "
        "outside the list encodes as all zeros."
    )
    standardisation: Mapping[str, Standardisation] = Field(
        description="Per numeric feature: the training set's mean and standard deviation."
    )
    hidden_sizes: tuple[int, ...] = Field(
        default=(64, 32), description="Widths of the hidden layers (ReLU)."
    )
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0, description="Dropout while training.")
    threshold: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="Score at or above which the label is churn."
    )
    feature_view_version: str | None = Field(
        default=None, description="Version of the feature view the model was trained on."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if set(self.standardisation) != set(self.numeric_features):
            raise ValueError("standardisation must cover exactly the numeric features")
        overlap = set(self.numeric_features) & set(self.categorical_features)
        if overlap:
            raise ValueError(f"features both numeric and categorical: {sorted(overlap)}")
        if not self.numeric_features and not self.categorical_features:
            raise ValueError("a model needs at least one input feature")
        if any(size < 1 for size in self.hidden_sizes):
            raise ValueError("hidden layer sizes must be positive")
        return self

    @property
    def input_size(self) -> int:
        """Width of the encoded input vector."""
        return len(self.numeric_features) + sum(
            len(values) for values in self.categorical_features.values()
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Every input feature the model reads."""
        return (*self.numeric_features, *self.categorical_features)


def is_missing(value: object) -> bool:
    """None or NaN: a feature with no value."""
    return value is None or (isinstance(value, float) and math.isnan(value))
