"""The drift rule of a window: per-feature scores from the configured methods, the share of
drifted features, and whether that share makes the whole window drifted."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DriftPolicy:
    """Evidently methods and thresholds, and the drifted share that flags a window."""

    numeric_method: str
    numeric_threshold: float
    categorical_method: str
    categorical_threshold: float
    drift_share: float
    min_rows: int
    """Windows with fewer complete rows than this are not checked (too noisy)."""

    def method_for(self, categorical: bool) -> tuple[str, float]:
        """(method, threshold) for a feature of that kind."""
        if categorical:
            return self.categorical_method, self.categorical_threshold
        return self.numeric_method, self.numeric_threshold


@dataclass(frozen=True)
class FeatureScore:
    """One feature's drift as the method judged it."""

    feature: str
    score: float
    method: str
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftVerdict:
    """The window's drift: per feature, the share drifted and the window's flag."""

    features: tuple[FeatureScore, ...]
    drift_share: float
    drift_share_threshold: float
    dataset_drift: bool


def verdict(features: tuple[FeatureScore, ...], policy: DriftPolicy) -> DriftVerdict:
    """The window counts as drifted when the share of drifted features reaches the policy's
    share (the semantics of ``DriftDetected.drift_share_threshold``)."""
    if not features:
        raise ValueError("a drift verdict needs at least one feature")
    share = sum(f.drifted for f in features) / len(features)
    return DriftVerdict(
        features=features,
        drift_share=share,
        drift_share_threshold=policy.drift_share,
        dataset_drift=share >= policy.drift_share,
    )
