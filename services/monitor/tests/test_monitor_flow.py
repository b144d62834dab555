"""Component test: the monitor app on the in-memory Kafka with real SQLite state,
real Evidently and a reference source standing in for MLflow (the MLflow one is tested in
test_monitor_references.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI
from monitor.domain.reference import ReferenceSample, ReferenceUnavailable
from monitor.main import create_app
from monitor.settings import MonitorSettings

from mlops_contracts import (
    DriftDetected,
    LabelObserved,
    ModelPromoted,
    PerformanceDegraded,
    PredictionErrorCode,
    PredictionMade,
    PredictionStatus,
    WireRecord,
    dead_letter_topic,
    topic_for,
)
from service_kit.in_memory import InMemoryKafka
from service_kit.testing import TopicTap
from service_kit.testing import eventually as wait_until

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
PREDICTIONS = topic_for(PredictionMade).name


def reference_sample(version: int, rows: int = 2000) -> ReferenceSample:
    rng = np.random.default_rng(version)
    return ReferenceSample(
        model_name="churn",
        model_version=version,
        numeric_features=("usage", "charges"),
        categorical_features=("plan",),
        columns={
            "usage": rng.normal(300, 60, rows).tolist(),
            "charges": rng.normal(50, 10, rows).tolist(),
            "plan": rng.choice(["basic", "premium"], rows).tolist(),
        },
        rows=rows,
        baseline={"roc_auc": 0.8, "accuracy": 0.75},
    )


class FakeReferences:
    """Champion version 1; references by version; a missing one raises like MLflow's."""

    def __init__(self, champion: int | None = 1) -> None:
        self.champion = champion
        self.samples: dict[int, ReferenceSample] = {1: reference_sample(1)}
        self.loads: list[int] = []

    def champion_version(self, model_name: str) -> int | None:
        return self.champion

    def load(self, model_name: str, version: int) -> ReferenceSample:
        self.loads.append(version)
        if version not in self.samples:
            raise ReferenceUnavailable(f"version {version} has no reference_sample.json")
        return self.samples[version]


class RecordingObserver:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def record_predictions(
        self,
        *,
        at: datetime,
        count: int,
        errors: int,
        latencies_ms: Sequence[float],
        model_version: str | None,
    ) -> None:
        self.calls.append(
            {
                "at": at,
                "count": count,
                "errors": errors,
                "latencies": list(latencies_ms),
                "version": model_version,
            }
        )


def settings(tmp_path: Path, **fields: Any) -> MonitorSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "instance_id": "monitor-test",
        "kafka_bootstrap_servers": "127.0.0.1:1",
        "window_seconds": 60,
        "window_size": 500,
        "window_min_size": 50,
        "window_lateness_seconds": 0,
        "performance_min_labels": 40,
        "drift_share": 0.5,
        "public_url": "http://monitor.test:8705",
    }
    return MonitorSettings(**(values | fields))


def prediction(
    number: int, seconds: float, *, version: int = 1, usage_shift: float = 0.0, **fields: Any
) -> PredictionMade:
    rng = np.random.default_rng(number)
    score = float(rng.uniform())
    values: dict[str, Any] = {
        "request_id": f"r-{number}",
        "customer_id": f"C-{number:05d}",
        "status": PredictionStatus.OK,
        "score": score,
        "label": score >= 0.5,
        "model_name": "churn",
        "model_version": version,
        "latency_ms": 3.0,
        "features": {
            "usage": float(rng.normal(300 + usage_shift, 60)),
            "charges": float(rng.normal(50, 10)),
            "plan": str(rng.choice(["basic", "premium"], p=[0.2, 0.8] if usage_shift else None)),
        },
        "replica_id": "predictor-1",
        "predicted_at": T0 + timedelta(seconds=seconds),
    }
    return PredictionMade(**(values | fields))


def failed(number: int, seconds: float) -> PredictionMade:
    return PredictionMade(
        request_id=f"e-{number}",
        customer_id=f"C-{number:05d}",
        status=PredictionStatus.ERROR,
        error_code=PredictionErrorCode.UNKNOWN_ENTITY,
        error_reason="no such customer",
        latency_ms=1.0,
        replica_id="predictor-1",
        predicted_at=T0 + timedelta(seconds=seconds),
    )


class Collected:
    """What the monitor published, read from its topics."""

    def __init__(self, tap: TopicTap) -> None:
        self.tap = tap

    def _events(self, topic: str) -> list[tuple[str, Any]]:
        envelopes = map(self.tap.envelope, self.tap.records(topic))
        return [(envelope.id, envelope.data) for envelope in envelopes]

    @property
    def drift(self) -> list[tuple[str, DriftDetected]]:
        return self._events(topic_for(DriftDetected).name)

    @property
    def performance(self) -> list[tuple[str, PerformanceDegraded]]:
        return self._events(topic_for(PerformanceDegraded).name)

    @property
    def dead(self) -> list[dict[str, str]]:
        return [
            self.tap.headers(record) for record in self.tap.records(dead_letter_topic(PREDICTIONS))
        ]


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, Collected]]:
    """Run ``app`` (built on an InMemoryKafka); every record published in the block is
    handled before it stops."""
    kafka: InMemoryKafka = app.state.runtime.kafka
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://monitor") as client:
            yield client, Collected(TopicTap([], memory=kafka))
        await kafka.settled()


async def eventually(condition: Callable[[], bool]) -> None:
    await wait_until(condition, 60.0)


async def test_a_window_is_checked_for_drift_judged_on_labels_and_emitted_once(
    tmp_path: Path,
) -> None:
    observer = RecordingObserver()
    references = FakeReferences()
    app = create_app(settings(tmp_path), InMemoryKafka(), observer=observer, references=references)
    publish = app.state.runtime.publisher.publish
    drifted = [prediction(i, i * 0.25, usage_shift=-60) for i in range(200)]
    async with running(app) as (client, collected):
        for event in drifted:
            await publish(event)
        for i in range(5):
            await publish(failed(1000 + i, 30))
        await app.state.runtime.kafka.send([WireRecord(PREDICTIONS, b"C-1", b"not an event", ())])
        await publish(prediction(500, 61))  # the watermark passes the first window's end
        await eventually(lambda: len(collected.drift) == 1)

        # Labels: the first 40 customers' outcomes, made to disagree with the scores.
        for event in drifted[:40]:
            await publish(
                LabelObserved(
                    record_id=f"label-{event.request_id}",
                    customer_id=event.customer_id,
                    churned=not event.label,
                    observed_at=event.predicted_at + timedelta(days=2),
                )
            )
        await eventually(lambda: len(collected.performance) == 1)
        html = await client.get("/reports/churn-v1-20261121T090000Z-60s.html")
        document = await client.get("/reports/churn-v1-20261121T090000Z-60s.json")
        index = await client.get("/reports")
        escape = await client.get("/reports/..%2Fmonitor.db")
        unknown = await client.get("/reports/churn-v9-20261121T090000Z-60s.html")
        metrics = (await client.get("/metrics")).text

    [(event_id, drift)] = collected.drift
    assert drift.window_id == "churn-v1-20261121T090000Z-60s"
    assert event_id == f"monitor:drift:{drift.window_id}"
    assert drift.window_start == T0
    assert drift.window_end == T0 + timedelta(seconds=60)
    assert drift.sample_count == 200  # ok predictions only; the errors are counted apart
    assert drift.model_version == 1
    scores = {f.feature: f for f in drift.features}
    assert scores["usage"].drifted
    assert scores["plan"].drifted
    assert not scores["charges"].drifted
    assert drift.dataset_drift is True
    assert drift.drift_share_threshold == 0.5
    assert drift.report_uri == f"http://monitor.test:8705/reports/{drift.window_id}.html"

    [(perf_id, performance)] = collected.performance
    assert perf_id == f"monitor:performance:{drift.window_id}"
    assert performance.window_id == drift.window_id
    assert performance.metric == "roc_auc"
    assert performance.labelled_count == 40
    assert performance.value < 0.5  # every label contradicts its prediction
    assert performance.degraded is True
    assert performance.baseline_value == 0.8
    assert performance.threshold == 0.65

    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert document.status_code == 200
    assert any(m["config"].get("column") == "usage" for m in document.json()["metrics"])
    assert index.json() == {"windows": [drift.window_id]}
    assert escape.status_code == 404
    assert unknown.status_code == 404

    assert len(collected.dead) == 1  # the undecodable record
    assert collected.dead[0]["dlq_original_topic"] == PREDICTIONS
    assert 'monitor_predictions_total{status="ok"} 201.0' in metrics
    assert 'monitor_predictions_total{status="error"} 5.0' in metrics
    assert 'monitor_feature_drift_score{feature="usage",method="wasserstein"' in metrics
    assert 'monitor_windows_total{kind="drift",outcome="drifted"} 1.0' in metrics
    assert 'monitor_live_performance{metric="accuracy",model_name="churn"} 0.0' in metrics
    assert 'monitor_labels_total{outcome="joined"} 40.0' in metrics

    assert sum(call["count"] for call in observer.calls) == 206
    assert sum(call["errors"] for call in observer.calls) == 5
    assert {call["version"] for call in observer.calls} == {"1", None}
    assert all(call["latencies"] for call in observer.calls)

    # After a crash (no snapshot of the open windows) the same predictions are replayed
    # (offsets not committed): the ledger keeps both windows from being emitted twice.
    (tmp_path / "data" / "open_windows.json").unlink()
    again = create_app(settings(tmp_path), InMemoryKafka(), references=FakeReferences())
    republish = again.state.runtime.publisher.publish
    async with running(again) as (replay_client, replayed):
        for event in drifted:
            await republish(event)
        await republish(prediction(501, 62))
        for event in drifted[:40]:
            await republish(
                LabelObserved(
                    record_id=f"label-again-{event.request_id}",
                    customer_id=event.customer_id,
                    churned=event.label is True,
                    observed_at=event.predicted_at + timedelta(days=2),
                )
            )
        await asyncio.sleep(0.5)
        replay_metrics = (await replay_client.get("/metrics")).text
    assert replayed.drift == []
    assert replayed.performance == []
    assert 'monitor_windows_total{kind="drift",outcome="replayed"} 1.0' in replay_metrics


async def test_a_window_without_a_reference_is_skipped_and_a_promotion_switches_it(
    tmp_path: Path,
) -> None:
    references = FakeReferences(champion=None)
    app = create_app(settings(tmp_path), InMemoryKafka(), references=references)
    publish = app.state.runtime.publisher.publish
    async with running(app) as (client, collected):
        # Version 2 serves, but has no reference and no champion is known: skipped, alive.
        for i in range(60):
            await publish(prediction(i, i * 0.5, version=2))
        await publish(prediction(100, 61, version=2))
        await eventually(lambda: 2 in references.loads)
        await asyncio.sleep(0.3)
        assert collected.drift == []
        metrics = (await client.get("/metrics")).text
        assert 'monitor_windows_total{kind="drift",outcome="no_reference"} 1.0' in metrics

        # Version 1 is promoted: its reference becomes active; a bad version 3 promotion
        # keeps it, and version 3's windows are checked against it.
        base = {
            "model_name": "churn",
            "model_uri": "models:/churn/1",
            "sha256": "a" * 64,
            "gate_metric": "roc_auc",
            "challenger_metric": 0.8,
            "min_margin": 0.0,
            "holdout_rows": 100,
            "promoted_at": T0,
        }
        await publish(ModelPromoted(model_version=1, **base))
        await publish(ModelPromoted(model_version=3, previous_version=1, **base))
        # Two topics are read by two consumers in no common order: the promotions first.
        await app.state.runtime.kafka.settled()
        for i in range(300):
            await publish(prediction(1000 + i, 120 + i * 0.2, version=3))
        await publish(prediction(300, 181, version=3))
        await eventually(lambda: len(collected.drift) == 1)
        health = await client.get("/health")

    [(_, drift)] = collected.drift
    assert drift.model_version == 3
    assert drift.window_id == "churn-v3-20261121T090200Z-60s"
    assert drift.sample_count == 300
    assert drift.dataset_drift is False  # the same distribution as version 1's reference
    assert health.status_code == 200


async def test_a_graceful_restart_keeps_the_windows_still_open(tmp_path: Path) -> None:
    kafka = InMemoryKafka()  # one broker: the second process reads on from the first's commits
    first = create_app(settings(tmp_path), kafka, references=FakeReferences())
    async with running(first) as (_, collected):
        for i in range(100):
            await first.state.runtime.publisher.publish(prediction(i, i * 0.5))
    assert collected.drift == []
    snapshot = tmp_path / "data" / "open_windows.json"
    assert snapshot.is_file()

    second = create_app(settings(tmp_path), kafka, references=FakeReferences())
    async with running(second) as (_, collected):
        assert not snapshot.exists()  # restored once, never twice
        for i in range(100, 200):
            await second.state.runtime.publisher.publish(prediction(i, (i - 100) * 0.5 + 0.1))
        await second.state.runtime.publisher.publish(prediction(999, 61))
        await eventually(lambda: len(collected.drift) == 1)
    [(_, drift)] = collected.drift
    assert drift.window_id == "churn-v1-20261121T090000Z-60s"
    assert drift.sample_count == 200  # both processes' predictions
