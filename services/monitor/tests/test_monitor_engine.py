"""The engine's use cases with fakes (no Evidently, no database, no broker): publishing
once, retrying a failed publish in order, the idle close, late predictions, the reference
fallback, and one performance judgement per window."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.adapters.evidently_drift import DriftReport
from monitor.adapters.metrics import MonitorMetrics
from monitor.adapters.reports import ReportArchive
from monitor.domain.drift import DriftPolicy, FeatureScore, verdict
from monitor.domain.label_join import PredictionLog
from monitor.domain.performance import PerformancePolicy
from monitor.domain.reference import ReferenceSample, ReferenceUnavailable
from monitor.domain.windows import WindowBook
from monitor.service import MonitorEngine
from prometheus_client import CollectorRegistry

from mlops_contracts import (
    DriftDetected,
    LabelObserved,
    PerformanceDegraded,
    PredictionMade,
    PredictionStatus,
)

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
POLICY = DriftPolicy("wasserstein", 0.1, "jensenshannon", 0.1, drift_share=0.5, min_rows=1)


def sample(version: int) -> ReferenceSample:
    return ReferenceSample(
        model_name="churn",
        model_version=version,
        numeric_features=("x",),
        categorical_features=(),
        columns={"x": [0.0] * 40},
        rows=40,
        baseline={"roc_auc": 0.9},
    )


class References:
    def __init__(self, available: Collection[int] = (1,), champion: int | None = 1) -> None:
        self.available = set(available)
        self.champion = champion
        self.loads: list[int] = []

    def champion_version(self, model_name: str) -> int | None:
        return self.champion

    def load(self, model_name: str, version: int) -> ReferenceSample:
        self.loads.append(version)
        if version not in self.available:
            raise ReferenceUnavailable(f"no reference for version {version}")
        return sample(version)


class Drift:
    """Drifted when the window's mean of x exceeds 1; records the reference used."""

    def __init__(self) -> None:
        self.references: list[int] = []

    def check(
        self, reference: ReferenceSample, rows: list[dict[str, float | str]], *, title: str
    ) -> DriftReport:
        self.references.append(reference.model_version)
        mean = sum(float(r["x"]) for r in rows) / len(rows)
        score = FeatureScore("x", abs(mean), "wasserstein", 0.1, abs(mean) > 1)
        return DriftReport(verdict((score,), POLICY), len(rows), "<html></html>", "{}")


class Ledger:
    """The window ledger and its outbox: rows and events stored together, the events
    published in order by ``flush`` (those the publisher refuses wait for the next)."""

    def __init__(self, publisher: Any) -> None:
        self.rows: dict[tuple[str, str], str] = {}
        self.unpublished: list[tuple[Any, str]] = []
        self.publisher = publisher

    async def emitted(self, kind: Any, window_ids: Collection[str]) -> set[str]:
        return {w for w in window_ids if (kind, w) in self.rows}

    async def emit(self, kind: Any, window_id: str, event: Any, event_id: str) -> None:
        if (kind, window_id) not in self.rows:
            self.rows[(kind, window_id)] = event_id
            self.unpublished.append((event, event_id))

    async def flush(self) -> bool:
        try:
            while self.unpublished:
                event, event_id = self.unpublished[0]
                await self.publisher.publish(event, event_id=event_id)
                self.unpublished.pop(0)
        except ConnectionError:
            return False
        return True


class Clock:
    def __init__(self) -> None:
        self.now = T0 + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


def engine(
    tmp_path: Path, publisher: Any, *, ledger: Ledger | None = None, **fields: Any
) -> MonitorEngine:
    ledger = ledger or Ledger(publisher)
    values: dict[str, Any] = {
        "model_name": "churn",
        "windows": WindowBook(seconds=60, max_rows=100, lateness=timedelta(0)),
        "predictions": PredictionLog(
            max_customers=1000, per_customer=2, max_delay=timedelta(days=1)
        ),
        "performance": PerformancePolicy(metric="roc_auc", min_labels=4, min_value=0.7),
        "references": References(),
        "drift": Drift(),
        "ledger": ledger,
        "reports": ReportArchive(tmp_path / "reports", keep=5),
        "outbox": ledger,
        "metrics": MonitorMetrics(CollectorRegistry()),
        "report_base_url": "http://monitor:8705",
        "min_window_rows": 2,
        "idle_close": timedelta(0),
        "clock": Clock(),
    }
    return MonitorEngine(**(values | fields))


def made(number: int, seconds: float, x: float = 0.0, version: int = 1) -> PredictionMade:
    return PredictionMade(
        request_id=f"r-{number}",
        customer_id=f"C-{number}",
        status=PredictionStatus.OK,
        score=0.9 if number % 2 else 0.1,
        label=bool(number % 2),
        model_name="churn",
        model_version=version,
        latency_ms=1.0,
        features={"x": x},
        replica_id="p-1",
        predicted_at=T0 + timedelta(seconds=seconds),
    )


async def test_a_failed_publish_is_retried_in_order_and_each_window_is_emitted_once(
    tmp_path: Path, recording_publisher: Any
) -> None:
    ledger = Ledger(recording_publisher)
    monitor = engine(tmp_path, recording_publisher, ledger=ledger)
    await monitor.start()
    recording_publisher.fail_next = 1
    await monitor.on_predictions([made(i, i, x=5.0) for i in range(5)])
    await monitor.on_predictions([made(10, 61), made(14, 62)])  # closes window 1: publish fails
    assert recording_publisher.events(DriftDetected) == []
    await monitor.on_predictions([made(11, 125)])  # closes window 2; 1 is retried first
    first, second = recording_publisher.events(DriftDetected)
    assert first.window_start == T0
    assert first.dataset_drift is True
    assert first.sample_count == 5
    assert first.report_uri == f"http://monitor:8705/reports/{first.window_id}.html"
    assert second.window_start == T0 + timedelta(seconds=60)
    assert recording_publisher.ids(DriftDetected) == [
        f"monitor:drift:{first.window_id}",
        f"monitor:drift:{second.window_id}",
    ]
    assert set(ledger.rows) == {("drift", first.window_id), ("drift", second.window_id)}
    assert (tmp_path / "reports" / f"{first.window_id}.html").is_file()

    # A straggler of window 1 is late; a restarted engine replaying window 1 emits nothing.
    await monitor.on_predictions([made(12, 30)])
    assert monitor.metrics.late_predictions._value.get() == 1
    restarted = engine(tmp_path, recording_publisher, ledger=ledger)
    await restarted.on_predictions([made(i, i, x=5.0) for i in range(5)] + [made(10, 61)])
    assert restarted.metrics.windows.labels("drift", "replayed")._value.get() == 1
    await restarted.on_predictions([made(13, 200)])
    assert len(recording_publisher.events(DriftDetected)) == 2


async def test_a_quiet_stream_closes_its_window_on_the_tick(
    tmp_path: Path, recording_publisher: Any
) -> None:
    monitor = engine(tmp_path, recording_publisher)
    await monitor.on_predictions([made(1, 1), made(2, 2)])
    assert recording_publisher.events(DriftDetected) == []
    await monitor.tick()  # idle_close 0 s; the fake clock is an hour after the window
    [event] = recording_publisher.events(DriftDetected)
    assert event.dataset_drift is False


async def test_windows_without_their_reference_use_the_active_one_or_are_skipped(
    tmp_path: Path, recording_publisher: Any
) -> None:
    drift = Drift()
    references = References(available={1}, champion=None)
    monitor = engine(tmp_path, recording_publisher, drift=drift, references=references)
    await monitor.start()  # no champion: nothing active
    await monitor.on_predictions([made(1, 1, version=2), made(2, 2, version=2)])
    await monitor.on_predictions([made(3, 70, version=2), made(5, 71, version=2)])
    assert recording_publisher.events(DriftDetected) == []  # skipped, not crashed
    references.champion = 1
    await monitor.start()  # version 1 active now
    await monitor.on_predictions([made(4, 130, version=2)])  # closes the second v2 window
    [event] = recording_publisher.events(DriftDetected)
    assert event.model_version == 2
    assert drift.references == [1]  # checked against the active reference
    assert references.loads.count(2) == 1  # a failed load is not retried at once


async def test_performance_is_emitted_once_per_window_with_the_training_baseline(
    tmp_path: Path, recording_publisher: Any
) -> None:
    monitor = engine(tmp_path, recording_publisher)
    await monitor.start()
    predictions = [made(i, i) for i in range(6)]
    await monitor.on_predictions(predictions)

    def label(prediction: PredictionMade, suffix: str = "") -> LabelObserved:
        return LabelObserved(
            record_id=f"l-{prediction.request_id}{suffix}",
            customer_id=prediction.customer_id,
            churned=bool(prediction.label),
            observed_at=prediction.predicted_at + timedelta(hours=2),
        )

    await monitor.on_labels([label(p) for p in predictions[:3]])
    assert recording_publisher.events(PerformanceDegraded) == []
    await monitor.on_labels([label(predictions[3]), label(predictions[3], "-again")])
    [event] = recording_publisher.events(PerformanceDegraded)
    assert event.value == 1.0
    assert event.labelled_count == 4
    assert event.baseline_value == 0.9
    assert event.degraded is False
    assert recording_publisher.ids(PerformanceDegraded) == [
        f"monitor:performance:{event.window_id}"
    ]
    await monitor.on_labels([label(p) for p in predictions[4:]])
    assert len(recording_publisher.events(PerformanceDegraded)) == 1
    joined = monitor.metrics.labels.labels("joined")._value.get()
    duplicate = monitor.metrics.labels.labels("duplicate")._value.get()
    assert (joined, duplicate) == (6, 1)


async def test_a_failing_observer_does_not_stop_the_engine(
    tmp_path: Path, recording_publisher: Any
) -> None:
    class Broken:
        def record_predictions(self, **_: Any) -> None:
            raise RuntimeError("dashboard bug")

    monitor = engine(tmp_path, recording_publisher, observer=Broken())
    await monitor.on_predictions([made(1, 1), made(2, 2)])
    await monitor.on_predictions([made(3, 70)])
    assert len(recording_publisher.events(DriftDetected)) == 1


async def test_an_unreachable_ledger_or_mlflow_never_loses_a_window(
    tmp_path: Path, recording_publisher: Any
) -> None:
    class Down(Ledger):
        async def emitted(self, kind: Any, window_ids: Collection[str]) -> set[str]:
            raise ConnectionError("database down")

    class Broken(References):
        def champion_version(self, model_name: str) -> int | None:
            raise TimeoutError("MLflow does not answer")

        def load(self, model_name: str, version: int) -> ReferenceSample:
            if version == 1 and not self.loads:
                self.loads.append(version)
                raise TimeoutError("MLflow does not answer")
            return super().load(model_name, version)

    monitor = engine(
        tmp_path,
        recording_publisher,
        ledger=Down(recording_publisher),
        references=Broken(),
        reference_retry=timedelta(0),
    )
    await monitor.start()  # logged, not raised
    await monitor.on_predictions([made(1, 1), made(2, 2), made(3, 70)])  # MLflow down: skipped
    assert recording_publisher.events(DriftDetected) == []
    await monitor.on_predictions([made(4, 75), made(5, 80), made(6, 130)])  # MLflow is back
    [event] = recording_publisher.events(DriftDetected)
    assert event.window_start == T0 + timedelta(seconds=60)
