"""The churn model as an MLflow pyfunc ``loader_module``, so that ``mlflow models serve``
serves exactly the same weights (the REST benchmark's comparison). Loading goes through
``churn_model.load_model``: safetensors, sha256-verified, nothing unpickled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from churn_model import LoadedModel, load_model


class ChurnPyfunc:
    """What ``mlflow.pyfunc`` calls: ``predict`` on a DataFrame of feature rows."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> list[float]:
        """Churn probabilities, one per row."""
        return self.model.scores(model_input.to_dict(orient="records"))


def _load_pyfunc(data_path: str) -> ChurnPyfunc:
    folder = Path(data_path)
    recorded = json.loads((folder / "spec.json").read_text())["weights_sha256"]
    return ChurnPyfunc(load_model(folder, recorded))
