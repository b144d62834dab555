"""The monitor against real dependencies: references of versions trained by the real
trainer into a real MLflow server, and the whole app on the real Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from monitor.adapters.references import MlflowReferenceSource
from monitor.domain.reference import ReferenceInvalid, ReferenceUnavailable
from monitor.main import create_app
from monitor.settings import MonitorSettings

from churn_features import FEATURE_NAMES
from churn_features.training_set import labelled_set
from mlops_contracts import DriftDetected, ModelTrained, PredictionMade, topics_to_create
from model_store import CHAMPION
from service_kit import ensure_topics
from service_kit.testing import TopicTap, eventually

pytestmark = pytest.mark.connected


async def champion(parts: Any, model: str) -> ModelTrained:
    """Train a version with the real trainer and make it the champion."""
    trainer = parts.trainer(max_epochs=2)
    await trainer.accept(parts.request(model), event_id=str(uuid.uuid4()), correlation_id=None)
    await trainer.run_pending()
    trained: ModelTrained = parts.publisher.events(ModelTrained)[-1]
    parts.models.set_alias(model, CHAMPION, trained.model_version)
    return trained


def register_bad_version(parts: Any, model: str, document: Any) -> int:
    """A version whose run carries ``document`` as its reference sample (None: none)."""
    models = parts.models
    run_id = models.start_run(model, "bad-reference", {})
    if document is not None:
        models.log_json(run_id, document, "reference_sample.json")
    info = models.register(
        model,
        run_id=run_id,
        source=f"{models.run(run_id).artifact_uri}/model",
        sha256="0" * 64,
        tags={},
    )
    return int(info.version)


async def test_the_reference_of_a_trained_version_is_its_training_sample(
    model_plane: Any,
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    trained = await champion(model_plane, model)
    source = MlflowReferenceSource(model_plane.models, max_rows=1000)

    assert await asyncio.to_thread(source.champion_version, model) == trained.model_version
    reference = await asyncio.to_thread(source.load, model, trained.model_version)
    assert set(reference.feature_names) == set(FEATURE_NAMES)
    assert set(reference.categorical_features) == {"plan", "contract_type"}
    assert reference.rows == 1000  # subsampled from the run's sample
    assert reference.training_rows == trained.dataset.row_count
    assert reference.baseline is not None
    assert reference.baseline["roc_auc"] == pytest.approx(trained.metrics["roc_auc"])
    assert set(reference.columns["plan"]) <= {"basic", "standard", "premium"}

    invalid = register_bad_version(model_plane, model, {"format": 1, "columns": "nope"})
    with pytest.raises(ReferenceInvalid, match=f"version {invalid} .* is invalid"):
        await asyncio.to_thread(source.load, model, invalid)
    missing = register_bad_version(model_plane, model, None)
    with pytest.raises(ReferenceUnavailable, match=r"has no reference_sample\.json"):
        await asyncio.to_thread(source.load, model, missing)
    with pytest.raises(ReferenceUnavailable):
        await asyncio.to_thread(source.load, model, 999)


async def test_predictions_on_the_real_broker_become_drift_events_against_the_mlflow_reference(
    model_plane: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    trained = await champion(model_plane, model)
    # Live traffic drawn from the training rows themselves: no drift. Then the same rows
    # with usage cut by 60 %: the two usage features drift.
    window = await model_plane.labels.observed_between(
        model_plane.history.start, model_plane.history.end - timedelta(days=5)
    )
    rows = (await asyncio.to_thread(labelled_set, model_plane.features, window)).feature_rows()
    random.Random(5).shuffle(rows)  # rows come by label id, i.e. roughly in time order
    t0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)

    def made(number: int, seconds: float, shift: float = 1.0) -> PredictionMade:
        features: dict[str, Any] = dict(rows[number % len(rows)])
        for name in ("usage_minutes_7d", "usage_minutes_30d"):
            features[name] = float(features[name]) * shift
        return PredictionMade(
            request_id=f"{model}-{number}",
            customer_id=f"C-{number:06d}",
            status="ok",
            score=0.4,
            label=False,
            model_name=model,
            model_version=trained.model_version,
            latency_ms=2.0,
            features=features,
            replica_id="predictor-1",
            predicted_at=t0 + timedelta(seconds=seconds),
        )

    settings = MonitorSettings(
        data_dir=tmp_path / "data",
        instance_id="monitor-connected",
        kafka_bootstrap_servers=kafka_bootstrap,
        mlflow_tracking_uri=model_plane.models.tracking_uri,
        model_name=model,
        window_seconds=60,
        window_size=1000,
        window_min_size=100,
        window_lateness_seconds=60,
    )
    app = create_app(settings)
    runtime = app.state.runtime
    await ensure_topics(kafka_bootstrap, topics_to_create())
    tap = TopicTap(["monitoring.drift"], bootstrap=kafka_bootstrap)

    def read() -> list[tuple[str, DriftDetected]]:
        envelopes = map(tap.envelope, tap.records("monitoring.drift"))
        return [(e.id, e.data) for e in envelopes if e.data.model_name == model]

    async with tap, app.router.lifespan_context(app):
        publish = runtime.publisher.publish
        await asyncio.gather(*(publish(made(i, i * 0.05)) for i in range(1000)))
        await asyncio.gather(*(publish(made(i, 60 + i * 0.05, 0.4)) for i in range(1000)))

        def consumed() -> float:
            value = runtime.metrics.get_sample_value("monitor_predictions_total", {"status": "ok"})
            return value or 0.0

        # Twelve partitions are read in no global time order: only once every prediction is
        # in does one far later prediction close both windows, whatever its partition.
        await eventually(lambda: consumed() == 2000, within_s=60)
        await publish(made(5000, 200))
        await eventually(lambda: len(read()) >= 2, within_s=120)
        drift = read()

    calm, shifted = (event for _, event in sorted(drift, key=lambda e: e[1].window_start))
    assert [event_id for event_id, _ in sorted(drift, key=lambda e: e[1].window_start)] == [
        f"monitor:drift:{calm.window_id}",
        f"monitor:drift:{shifted.window_id}",
    ]
    assert calm.model_version == trained.model_version
    assert calm.sample_count == shifted.sample_count == 1000
    assert calm.dataset_drift is False, [f for f in calm.features if f.drifted]
    drifted = {f.feature for f in shifted.features if f.drifted}
    assert {"usage_minutes_7d", "usage_minutes_30d"} <= drifted
    assert shifted.dataset_drift is True
    assert len(shifted.features) == len(FEATURE_NAMES)
