"""Data drift of a window with Evidently (0.7): one ``ValueDrift`` per feature with the
policy's method and threshold, run against the reference of the model version.

Evidently costs seconds to import, so it is imported on first use (the service warms it up
in the background at start), never at module import. The reference's Evidently ``Dataset``
is built once per model version and reused for every window.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd

from monitor.domain.drift import DriftPolicy, DriftVerdict, FeatureScore, verdict
from monitor.domain.reference import ReferenceSample


@dataclass(frozen=True)
class DriftReport:
    """The verdict, the rows it was computed on, and the rendered Evidently report."""

    verdict: DriftVerdict
    rows: int
    html: str
    json: str


class EvidentlyDriftCheck:
    """Computes a window's drift against a reference (call from a worker thread)."""

    def __init__(self, policy: DriftPolicy, *, reference_cache: int = 4) -> None:
        self.policy = policy
        self._cache_size = reference_cache
        self._datasets: dict[tuple[str, int, int], Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def warm_up() -> None:
        """Import Evidently (seconds): done once, off the request path."""
        import evidently
        import evidently.metrics  # noqa: F401

    def complete_rows(
        self, reference: ReferenceSample, rows: list[dict[str, float | str]]
    ) -> pd.DataFrame:
        """The window's rows that carry every reference feature, typed like the reference."""
        names = reference.feature_names
        kept = [row for row in rows if all(name in row for name in names)]
        frame = pd.DataFrame.from_records(kept, columns=list(names))
        for name in reference.numeric_features:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        for name in reference.categorical_features:
            frame[name] = frame[name].astype(str)
        return frame.dropna().reset_index(drop=True)

    def check(
        self, reference: ReferenceSample, rows: list[dict[str, float | str]], *, title: str
    ) -> DriftReport:
        """Run the report; ``ValueError`` when too few complete rows remain."""
        from evidently import Dataset, Report
        from evidently.metrics import ValueDrift

        current = self.complete_rows(reference, rows)
        if len(current) < self.policy.min_rows:
            raise ValueError(
                f"{len(current)} complete rows in the window; the drift check needs "
                f"at least {self.policy.min_rows}"
            )
        definition = self._definition(reference)
        metrics = []
        for name in reference.feature_names:
            method, threshold = self.policy.method_for(name in reference.categorical_features)
            metrics.append(ValueDrift(column=name, method=method, threshold=threshold))
        snapshot = Report(
            metrics,
            include_tests=True,
            metadata={"reference_version": str(reference.model_version)},
        ).run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=self._reference_dataset(reference),
            name=title,
        )
        document = snapshot.dict()
        scores: dict[str, float] = {}
        for metric in document["metrics"]:
            config = metric.get("config", {})
            if config.get("type", "").endswith("ValueDrift"):
                scores[config["column"]] = float(metric["value"])
        drifted: dict[str, bool] = {}
        for test in document.get("tests", []):
            params = test.get("metric_config", {}).get("params", {})
            if params.get("type", "").endswith("ValueDrift"):
                drifted[params["column"]] = test.get("status") == "FAIL"
        features = []
        for name in reference.feature_names:
            method, threshold = self.policy.method_for(name in reference.categorical_features)
            score = scores.get(name, math.nan)
            if name not in drifted or not math.isfinite(score):
                raise RuntimeError(f"Evidently returned no usable drift result for {name!r}")
            features.append(
                FeatureScore(
                    feature=name,
                    score=max(score, 0.0),
                    method=method,
                    threshold=threshold,
                    drifted=drifted[name],
                )
            )
        return DriftReport(
            verdict=verdict(tuple(features), self.policy),
            rows=len(current),
            html=snapshot.get_html_str(as_iframe=False),
            json=snapshot.json(),
        )

    def _definition(self, reference: ReferenceSample) -> Any:
        from evidently import DataDefinition

        return DataDefinition(
            numerical_columns=list(reference.numeric_features),
            categorical_columns=list(reference.categorical_features),
        )

    def _reference_dataset(self, reference: ReferenceSample) -> Any:
        from evidently import Dataset

        key = (reference.model_name, reference.model_version, id(reference))
        with self._lock:
            cached = self._datasets.get(key)
        if cached is not None:
            return cached
        frame = pd.DataFrame({name: reference.columns[name] for name in reference.feature_names})
        dataset = Dataset.from_pandas(frame, data_definition=self._definition(reference))
        with self._lock:
            self._datasets[key] = dataset
            while len(self._datasets) > self._cache_size:
                self._datasets.pop(next(iter(self._datasets)))
        return dataset
