"""The feature row a request is scored on: the customer's online features, overridden by
the request's inline values, checked against what the model reads. Pure: no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from mlops_contracts import PredictionErrorCode

FeatureValue = float | int | str | bool


@dataclass(frozen=True)
class Refusal:
    """Why a request cannot be scored (answered with an error, never dropped)."""

    code: PredictionErrorCode
    reason: str


def feature_row(
    *,
    customer_id: str,
    online: Mapping[str, FeatureValue | None] | None,
    inline: Mapping[str, FeatureValue] | None,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
) -> dict[str, FeatureValue] | Refusal:
    """The row to score, or the refusal: inline values of the wrong type are an invalid
    request; a customer neither the store nor the request describes is unknown; a value
    the model needs that neither gives is missing."""
    inline = inline or {}
    for name, value in inline.items():
        if name in numeric and (isinstance(value, str | bool) or not math.isfinite(float(value))):
            return Refusal(
                PredictionErrorCode.INVALID_REQUEST,
                f"inline feature {name!r} must be a finite number, got {value!r}",
            )
        if name in categorical and not isinstance(value, str):
            return Refusal(
                PredictionErrorCode.INVALID_REQUEST,
                f"inline feature {name!r} must be a category (text), got {value!r}",
            )
    needed = (*numeric, *categorical)
    if online is None and not all(name in inline for name in needed):
        return Refusal(
            PredictionErrorCode.UNKNOWN_ENTITY,
            f"no features for customer {customer_id!r}: the feature store has never seen it "
            "and the request does not carry every feature inline",
        )
    row: dict[str, FeatureValue] = {}
    for name in needed:
        found: FeatureValue | None = inline[name] if name in inline else (online or {}).get(name)
        if found is None:
            return Refusal(PredictionErrorCode.MISSING_FEATURE, f"feature {name!r} has no value")
        row[name] = found
    return row
