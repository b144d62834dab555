"""The customer churn features: definitions, computation, and the store adapter.

Importing this package is cheap (no Feast, no pandas): it exposes the pure feature
definitions and computation. The adapter lives in :mod:`churn_features.store`
(``CustomerFeatureStore``, imports Feast) and the training-set lineage helpers in
:mod:`churn_features.snapshot` (imports pandas).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from churn_features.domain import (
    CATEGORICAL_FEATURES,
    CREATED_TIMESTAMP,
    ENTITY_JOIN_KEY,
    ENTITY_NAME,
    EVENT_TIMESTAMP,
    FEATURE_DTYPES,
    FEATURE_NAMES,
    FEATURE_VIEW_NAME,
    FEATURE_VIEW_TTL,
    FEATURE_VIEW_VERSION,
    FEATURES,
    LONGEST_WINDOW,
    NUMERIC_FEATURES,
    ActivityRecord,
    CustomerHistory,
    FeatureRow,
    FeatureSpec,
    FeatureValue,
    OnlineFeatures,
)
from churn_features.settings import FeatureStoreSettings

if TYPE_CHECKING:
    from churn_features.store import CustomerFeatureStore


def open_feature_store(settings: FeatureStoreSettings) -> CustomerFeatureStore:
    """The store adapter of ``settings``. Feast is imported only now (~4 s, ~300 MB, so a
    service pays for it in its lifespan, never at import), with its usage telemetry off."""
    os.environ.setdefault("FEAST_USAGE", "False")
    from churn_features.store import CustomerFeatureStore

    return CustomerFeatureStore(settings)


__all__ = [
    "CATEGORICAL_FEATURES",
    "CREATED_TIMESTAMP",
    "ENTITY_JOIN_KEY",
    "ENTITY_NAME",
    "EVENT_TIMESTAMP",
    "FEATURES",
    "FEATURE_DTYPES",
    "FEATURE_NAMES",
    "FEATURE_VIEW_NAME",
    "FEATURE_VIEW_TTL",
    "FEATURE_VIEW_VERSION",
    "LONGEST_WINDOW",
    "NUMERIC_FEATURES",
    "ActivityRecord",
    "CustomerHistory",
    "FeatureRow",
    "FeatureSpec",
    "FeatureStoreSettings",
    "FeatureValue",
    "OnlineFeatures",
    "open_feature_store",
]
