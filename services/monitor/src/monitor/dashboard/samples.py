"""A realistic closed-loop episode as contract events, for the dashboard's tests and previews.

The story: version 1 is the champion on two replicas; quiet monitoring windows; usage
drifts; the first drifted window is held back by the trigger's policy, the second requests
a training; the trainer reports its epochs; version 2 is trained, wins the promotion gate
and both replicas roll to it; the windows are quiet again.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from mlops_contracts import (
    DatasetSnapshot,
    DriftDetected,
    Event,
    FeatureDrift,
    ModelPromoted,
    ModelTrained,
    PerformanceDegraded,
    PredictorModelLoaded,
    SuppressionReason,
    TrainingProgress,
    TrainingReason,
    TrainingRequested,
    TrainingSuppressed,
)

FEATURES: tuple[tuple[str, str, float], ...] = (
    ("tenure_months", "ks", 0.05),
    ("monthly_charges", "ks", 0.05),
    ("usage_minutes_7d", "ks", 0.05),
    ("usage_minutes_30d", "ks", 0.05),
    ("sessions_30d", "ks", 0.05),
    ("support_tickets_30d", "ks", 0.05),
    ("plan", "chisquare", 0.05),
    ("contract_type", "chisquare", 0.05),
)
"""Monitored features: name, Evidently method, threshold (p-values: drift below it)."""

DRIFTING = frozenset({"usage_minutes_7d", "usage_minutes_30d", "sessions_30d"})


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _window(
    model_name: str, version: int, index: int, start: datetime, *, drifted: bool
) -> DriftDetected:
    end = start + timedelta(minutes=1)
    features = []
    for position, (name, method, threshold) in enumerate(FEATURES):
        # Deterministic, plausible p-values: high when quiet, tiny for drifting features.
        wobble = 0.5 + 0.45 * math.sin(index * 1.7 + position * 2.3)
        score = 0.002 + 0.01 * wobble if drifted and name in DRIFTING else 0.12 + 0.8 * wobble
        features.append(
            FeatureDrift(
                feature=name,
                score=round(score, 4),
                method=method,
                threshold=threshold,
                drifted=score < threshold,
            )
        )
    share = sum(f.drifted for f in features) / len(features)
    return DriftDetected(
        window_id=f"{model_name}-{version}-w{index:05d}",
        window_start=start,
        window_end=end,
        sample_count=1200 + 37 * (index % 7),
        model_name=model_name,
        model_version=version,
        features=tuple(features),
        drift_share=share,
        drift_share_threshold=0.3,
        dataset_drift=share >= 0.3,
        report_uri=f"http://127.0.0.1:8705/reports/{model_name}-{version}-w{index:05d}.html",
        detected_at=end + timedelta(seconds=2),
    )


def _performance(
    model_name: str, version: int, index: int, start: datetime, value: float
) -> PerformanceDegraded:
    return PerformanceDegraded(
        window_id=f"{model_name}-{version}-p{index:05d}",
        window_start=start,
        window_end=start + timedelta(minutes=1),
        model_name=model_name,
        model_version=version,
        metric="accuracy",
        value=value,
        threshold=0.7,
        baseline_value=0.78,
        labelled_count=300 + 11 * index,
        degraded=value < 0.7,
        detected_at=start + timedelta(minutes=1, seconds=3),
    )


def _promoted(
    model_name: str, version: int, at: datetime, *, previous: int | None, champion: float | None
) -> ModelPromoted:
    return ModelPromoted(
        model_name=model_name,
        model_version=version,
        model_uri=f"models:/{model_name}/{version}",
        sha256=_sha(f"{model_name}-{version}"),
        gate_metric="roc_auc",
        challenger_metric=0.7612 if previous else 0.7084,
        champion_metric=champion,
        min_margin=0.005,
        holdout_rows=639,
        previous_version=previous,
        promoted_at=at,
    )


def _loaded(
    replica: str, model_name: str, version: int, at: datetime, previous: int | None
) -> PredictorModelLoaded:
    return PredictorModelLoaded(
        replica_id=replica,
        model_name=model_name,
        model_version=version,
        sha256=_sha(f"{model_name}-{version}"),
        previous_version=previous,
        load_ms=84.0,
        warmup_ms=12.5,
        loaded_at=at,
    )


def loop_episode(
    start: datetime,
    *,
    model_name: str = "churn",
    replicas: tuple[str, ...] = ("predictor-1", "predictor-2"),
    epochs: int = 8,
    run_id: str = "b2e66d4f9a0c4e61a3d57c0e8f1b2a3c",
) -> list[tuple[str, Event]]:
    """The episode's events with their CloudEvents ids, in the order they happen."""
    events: list[tuple[str, Event]] = []

    def add(event_id: str, event: Event) -> None:
        events.append((f"sample-{event_id}", event))

    add("promoted-v1", _promoted(model_name, 1, start, previous=None, champion=None))
    for position, replica in enumerate(replicas):
        add(
            f"loaded-{replica}-v1",
            _loaded(replica, model_name, 1, start + timedelta(seconds=1 + position), None),
        )
    minute = start + timedelta(minutes=1)
    index = 0
    for _ in range(6):
        add(f"window-{index}", _window(model_name, 1, index, minute, drifted=False))
        add(f"perf-{index}", _performance(model_name, 1, index, minute, 0.77 - 0.002 * index))
        minute += timedelta(minutes=1)
        index += 1
    first_drift = _window(model_name, 1, index, minute, drifted=True)
    add(f"window-{index}", first_drift)
    add(
        "suppressed-1",
        TrainingSuppressed(
            decision_id="decision-1",
            model_name=model_name,
            signal=TrainingReason.DRIFT,
            reason=SuppressionReason.TOO_FEW_CONSECUTIVE_WINDOWS,
            detail="1 of 2 consecutive drifted windows needed",
            triggering_event_ids=(f"sample-window-{index}",),
            decided_at=first_drift.detected_at + timedelta(seconds=1),
        ),
    )
    minute += timedelta(minutes=1)
    index += 1
    second_drift = _window(model_name, 1, index, minute, drifted=True)
    add(f"window-{index}", second_drift)
    add(f"perf-{index}", _performance(model_name, 1, index, minute, 0.66))
    key = "drift-churn-episode-1"
    requested_at = second_drift.detected_at + timedelta(seconds=2)
    add(
        "requested-1",
        TrainingRequested(
            idempotency_key=key,
            model_name=model_name,
            reason=TrainingReason.DRIFT,
            data_window_start=requested_at - timedelta(days=30),
            data_window_end=requested_at - timedelta(days=2),
            triggering_event_ids=(f"sample-window-{index - 1}", f"sample-window-{index}"),
            requested_by="retrain-trigger",
            requested_at=requested_at,
        ),
    )
    at = requested_at + timedelta(seconds=3)
    for epoch in range(1, epochs + 1):
        at += timedelta(seconds=2)
        add(
            f"progress-{epoch}",
            TrainingProgress(
                idempotency_key=key,
                model_name=model_name,
                run_id=run_id,
                epoch=epoch,
                max_epochs=epochs,
                train_loss=round(0.69 * 0.86**epoch, 4),
                validation_metric="roc_auc",
                validation_value=round(0.70 + 0.06 * (1 - 0.7**epoch), 4),
                eta_seconds=2.0 * (epochs - epoch),
                samples_per_second=204_372.0,
                device="cpu",
                reported_at=at,
            ),
        )
    at += timedelta(seconds=2)
    add(
        "trained-v2",
        ModelTrained(
            idempotency_key=key,
            model_name=model_name,
            model_version=2,
            run_id=run_id,
            model_uri=f"models:/{model_name}/2",
            sha256=_sha(f"{model_name}-2"),
            metrics={"val_roc_auc": 0.7598, "val_log_loss": 0.4412},
            dataset=DatasetSnapshot(
                window_start=requested_at - timedelta(days=30),
                window_end=requested_at - timedelta(days=2),
                row_count=4107,
                content_sha256=_sha("snapshot-1"),
                feature_view_versions={"customer_activity": "1"},
            ),
            device="cpu",
            trained_at=at,
        ),
    )
    at += timedelta(seconds=3)
    add("promoted-v2", _promoted(model_name, 2, at, previous=1, champion=0.7084))
    for position, replica in enumerate(replicas):
        add(
            f"loaded-{replica}-v2",
            _loaded(replica, model_name, 2, at + timedelta(seconds=1 + position), 1),
        )
    minute += timedelta(minutes=2)
    index += 1
    for _ in range(3):
        add(f"window-{index}", _window(model_name, 2, index, minute, drifted=False))
        add(f"perf-{index}", _performance(model_name, 2, index, minute, 0.775))
        minute += timedelta(minutes=1)
        index += 1
    return events
