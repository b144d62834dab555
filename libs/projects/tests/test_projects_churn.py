"""The churn example's project file declares the features churn_features computes today
(until the feature service computes them from the file, the two must not part)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from churn_features.domain import CATEGORICAL_FEATURES, DAY, ENTITY_JOIN_KEY, FEATURES
from mlops_projects import read_project

CHURN = Path(__file__).resolve().parents[3] / "examples" / "churn"
_TYPES = {"int64": "integer", "float64": "numeric", "string": "categorical"}


def test_the_churn_project_declares_churn_features_features() -> None:
    project = read_project(CHURN)
    assert project.entity.key == ENTITY_JOIN_KEY
    declared = [
        (
            f.name,
            project.feature_type(f),
            f.field,
            f.window / timedelta(days=1) if f.window else None,
        )
        for f in project.inputs
    ]
    computed = [
        (s.name, _TYPES[s.dtype], s.source, s.window / DAY if s.window else None) for s in FEATURES
    ]
    assert declared == computed
    categories = {
        name: spec.values for name, spec in project.fields.items() if spec.type == "categorical"
    }
    assert categories == dict(CATEGORICAL_FEATURES)
