"""The drift reference of a model version: a sample of the raw features it was trained on.

The trainer logs it as the JSON artifact ``reference_sample.json`` of the training run
(format 1, column-wise)::

    {"format": 1, "model_name": "churn", "feature_view_version": "v1-...",
     "numeric_features": ["tenure_months", ...],
     "categorical_features": {"plan": ["basic", "standard", "premium"], ...},
     "training_rows": 4107, "sample_rows": 4107,
     "columns": {"tenure_months": [12.0, ...], "plan": ["basic", ...], ...}}

``parse_reference`` validates a document and raises ``ReferenceInvalid`` saying what is wrong;
nothing in it is trusted before that.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REFERENCE_FORMAT = 1
MAX_REFERENCE_ROWS = 100_000
MIN_REFERENCE_ROWS = 30


class ReferenceUnavailable(Exception):
    """A version's reference cannot be had (no such version or run, no artifact, MLflow
    down); the message says which."""


class ReferenceInvalid(ReferenceUnavailable):
    """A reference sample that cannot be used; the message says why."""


@dataclass(frozen=True)
class ReferenceSample:
    """A validated reference: column-wise values, numeric and categorical names."""

    model_name: str
    model_version: int
    numeric_features: tuple[str, ...]
    categorical_features: tuple[str, ...]
    columns: Mapping[str, list[float] | list[str]]
    rows: int
    training_rows: int | None = None
    baseline: Mapping[str, float] | None = None
    """The training run's final metrics (``roc_auc``, ``accuracy``...), when known."""

    @property
    def feature_names(self) -> tuple[str, ...]:
        return (*self.numeric_features, *self.categorical_features)


def _names(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ReferenceInvalid(f"{what} must be a list of feature names")
    return tuple(value)


def parse_reference(
    document: Any, *, model_name: str, model_version: int, max_rows: int, seed: int = 0
) -> ReferenceSample:
    """Validate a ``reference_sample.json`` document; keep at most ``max_rows`` rows
    (a seeded subsample: the drift check's cost grows with the reference)."""
    if not isinstance(document, Mapping):
        raise ReferenceInvalid("the reference sample is not a JSON object")
    if document.get("format") != REFERENCE_FORMAT:
        raise ReferenceInvalid(
            f"unsupported reference format {document.get('format')!r} (expected {REFERENCE_FORMAT})"
        )
    named = document.get("model_name")
    if named is not None and named != model_name:
        raise ReferenceInvalid(f"the sample is of model {named!r}, not {model_name!r}")
    numeric = _names(document.get("numeric_features"), "numeric_features")
    categorical_spec = document.get("categorical_features")
    if not isinstance(categorical_spec, Mapping):
        raise ReferenceInvalid("categorical_features must map feature names to their values")
    categorical = _names(list(categorical_spec), "categorical_features")
    if not numeric and not categorical:
        raise ReferenceInvalid("the reference names no feature")
    if set(numeric) & set(categorical):
        raise ReferenceInvalid("a feature is listed as both numeric and categorical")
    columns = document.get("columns")
    if not isinstance(columns, Mapping):
        raise ReferenceInvalid("columns must map feature names to value lists")
    missing = [name for name in (*numeric, *categorical) if name not in columns]
    if missing:
        raise ReferenceInvalid(f"columns missing for {', '.join(missing)}")
    lengths = {
        len(columns[name]) if isinstance(columns[name], list) else -1
        for name in (*numeric, *categorical)
    }
    if -1 in lengths or len(lengths) != 1:
        raise ReferenceInvalid("every column must be a list, all of the same length")
    rows = lengths.pop()
    if rows < MIN_REFERENCE_ROWS:
        raise ReferenceInvalid(f"{rows} reference rows; at least {MIN_REFERENCE_ROWS} are needed")
    if rows > MAX_REFERENCE_ROWS:
        raise ReferenceInvalid(f"{rows} reference rows; at most {MAX_REFERENCE_ROWS} are accepted")
    keep = sorted(random.Random(seed).sample(range(rows), max_rows)) if rows > max_rows else None
    parsed: dict[str, list[float] | list[str]] = {}
    for name in numeric:
        values = columns[name]
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            raise ReferenceInvalid(f"numeric column {name!r} holds a non-finite or non-number")
        floats = [float(v) for v in values]
        parsed[name] = [floats[i] for i in keep] if keep is not None else floats
    for name in categorical:
        values = columns[name]
        if not all(isinstance(v, str) for v in values):
            raise ReferenceInvalid(f"categorical column {name!r} holds a non-string")
        texts = list(values)
        parsed[name] = [texts[i] for i in keep] if keep is not None else texts
    training_rows = document.get("training_rows")
    return ReferenceSample(
        model_name=model_name,
        model_version=model_version,
        numeric_features=numeric,
        categorical_features=categorical,
        columns=parsed,
        rows=len(keep) if keep is not None else rows,
        training_rows=training_rows if isinstance(training_rows, int) else None,
    )
