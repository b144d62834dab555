"""The monitor's use cases: fill windows from predictions, check each closed window for data
drift against its model version's training reference, judge live performance once delayed
labels arrive, and emit each window's events once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from mlops_contracts import (
    DriftDetected,
    Envelope,
    FeatureDrift,
    LabelObserved,
    ModelPromoted,
    ModelRejected,
    PerformanceDegraded,
    PredictionMade,
    PredictionStatus,
)
from monitor.adapters.evidently_drift import DriftReport
from monitor.adapters.metrics import MonitorMetrics
from monitor.adapters.reports import ReportArchive
from monitor.adapters.window_ledger import WindowKind
from monitor.domain.label_join import JoinOutcome, PredictionLog, RememberedPrediction
from monitor.domain.performance import LabelledWindow, PerformanceJudgement, PerformancePolicy
from monitor.domain.reference import ReferenceSample, ReferenceUnavailable
from monitor.domain.windows import ClosedWindow, WindowBook, WindowKey

logger = logging.getLogger(__name__)

_REFERENCES_KEPT = 8


class TrafficObserver(Protocol):
    """Told about every consumed batch of predictions (the dashboard implements it).

    Called once per model version present in a batch: ``at`` is the newest prediction time
    of that group, ``count`` its predictions (``errors`` of them with status error, whose
    ``model_version`` may be None), ``latencies_ms`` the predictor latency of each,
    ``model_version`` the version number as text. Must be quick and must not raise.
    """

    def record_predictions(
        self,
        *,
        at: datetime,
        count: int,
        errors: int,
        latencies_ms: Sequence[float],
        model_version: str | None,
    ) -> None: ...


class ReferenceSource(Protocol):
    """Where references come from (synchronous; called from a worker thread)."""

    def champion_version(self, model_name: str) -> int | None: ...
    def load(self, model_name: str, version: int) -> ReferenceSample: ...


class DriftCheck(Protocol):
    """Computes a window's drift (synchronous, CPU-bound; called from a worker thread)."""

    def check(
        self, reference: ReferenceSample, rows: list[dict[str, float | str]], *, title: str
    ) -> DriftReport: ...


class WindowLedger(Protocol):
    """Which windows' events were emitted (durable), each stored with its event."""

    async def emitted(self, kind: WindowKind, window_ids: Collection[str]) -> set[str]: ...
    async def emit(
        self,
        kind: WindowKind,
        window_id: str,
        event: DriftDetected | PerformanceDegraded,
        event_id: str,
    ) -> None: ...


class EventOutbox(Protocol):
    """Publishes the events the ledger stored (the service's outbox)."""

    async def flush(self) -> bool: ...


def drift_event_id(window_id: str) -> str:
    """The CloudEvents id of a window's DriftDetected (the same on every replay)."""
    return f"monitor:drift:{window_id}"


def performance_event_id(window_id: str) -> str:
    """The CloudEvents id of a window's PerformanceDegraded (the same on every replay)."""
    return f"monitor:performance:{window_id}"


@dataclass
class MonitorEngine:
    """Windows, references, drift checks, the label join and the emitted-window ledger."""

    model_name: str
    """The model whose champion is loaded at start (others are monitored when seen)."""
    windows: WindowBook
    predictions: PredictionLog
    performance: PerformancePolicy
    references: ReferenceSource
    drift: DriftCheck
    ledger: WindowLedger
    reports: ReportArchive
    outbox: EventOutbox
    metrics: MonitorMetrics
    report_base_url: str
    min_window_rows: int
    observer: TrafficObserver | None = None
    idle_close: timedelta = timedelta(seconds=30)
    reference_retry: timedelta = timedelta(minutes=5)
    max_labelled_windows: int = 2000
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _references: dict[tuple[str, int], ReferenceSample] = field(default_factory=dict)
    _active: dict[str, ReferenceSample] = field(default_factory=dict)
    _failed: dict[tuple[str, int], float] = field(default_factory=dict)
    _labelled: dict[WindowKey, LabelledWindow] = field(default_factory=dict)
    _judged: set[str] = field(default_factory=set)
    _pending: list[tuple[WindowKind, str, DriftDetected | PerformanceDegraded]] = field(
        default_factory=list
    )
    _last_arrival: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # ---------------------------------------------------------------- references

    async def start(self) -> None:
        """Load the champion's reference; without one, windows wait for a promotion."""
        try:
            version = await asyncio.to_thread(self.references.champion_version, self.model_name)
        except Exception as error:  # MLflow down at start must not stop the service
            logger.error("champion unknown at start", extra={"error": str(error)})
            return
        if version is None:
            logger.info("no champion yet: drift checks start with the first promotion")
            return
        await self._activate(self.model_name, version)

    async def on_decision(self, envelope: Envelope[ModelPromoted | ModelRejected]) -> None:
        """A promotion switches the drift reference; a rejection changes nothing."""
        if isinstance(envelope.data, ModelPromoted):
            await self.on_promoted(envelope.data)

    async def on_promoted(self, promoted: ModelPromoted) -> None:
        """A new champion: its training reference becomes the active one (the previous
        stays active when the new one cannot be loaded)."""
        await self._activate(promoted.model_name, promoted.model_version)

    async def _activate(self, model_name: str, version: int) -> None:
        reference = await self._reference(model_name, version, retry_now=True)
        if reference is None:
            kept = self._active.get(model_name)
            logger.error(
                "the new champion's reference is unavailable; keeping the previous one",
                extra={
                    "model_name": model_name,
                    "model_version": version,
                    "kept_reference_version": kept.model_version if kept else None,
                },
            )
            return
        self._active[model_name] = reference
        logger.info(
            "drift reference active",
            extra={"model_name": model_name, "model_version": version, "rows": reference.rows},
        )

    async def _reference(
        self, model_name: str, version: int, *, retry_now: bool = False
    ) -> ReferenceSample | None:
        key = (model_name, version)
        if key in self._references:
            return self._references[key]
        failed_at = self._failed.get(key)
        if (
            not retry_now
            and failed_at is not None
            and time.monotonic() - failed_at < self.reference_retry.total_seconds()
        ):
            return None
        try:
            reference = await asyncio.to_thread(self.references.load, model_name, version)
        except Exception as error:  # ReferenceUnavailable, or anything unforeseen: never crash
            self._failed[key] = time.monotonic()
            logger.error(
                "drift reference unavailable",
                exc_info=not isinstance(error, ReferenceUnavailable),
                extra={"model_name": model_name, "model_version": version, "error": str(error)},
            )
            return None
        self._failed.pop(key, None)
        self._references[key] = reference
        # A few versions serve at once during a rollout; the active ones always stay.
        active = {(r.model_name, r.model_version) for r in self._active.values()}
        stale = [k for k in self._references if k not in active and k != key]
        for evicted in stale[: max(0, len(self._references) - _REFERENCES_KEPT)]:
            del self._references[evicted]
        return reference

    async def reference_for_window(self, key: WindowKey) -> ReferenceSample | None:
        """The reference of the version that served the window; else the model's active
        reference (logged); else None."""
        reference = await self._reference(key.model_name, key.model_version)
        if reference is not None:
            return reference
        fallback = self._active.get(key.model_name)
        if fallback is not None:
            logger.warning(
                "window checked against another version's reference",
                extra={
                    "window_id": key.window_id,
                    "model_version": key.model_version,
                    "reference_version": fallback.model_version,
                },
            )
        return fallback

    # ---------------------------------------------------------------- predictions

    async def on_prediction_events(self, envelopes: Sequence[Envelope[PredictionMade]]) -> None:
        """A batch of ``predictions.results`` (see :meth:`on_predictions`)."""
        await self.on_predictions([envelope.data for envelope in envelopes])

    async def on_predictions(self, batch: Sequence[PredictionMade]) -> None:
        """Count, observe and window a batch; check and emit the windows it closes."""
        self._last_arrival = time.monotonic()
        groups: dict[int | None, list[PredictionMade]] = defaultdict(list)
        newest: datetime | None = None
        for prediction in batch:
            groups[prediction.model_version].append(prediction)
            self.metrics.predictions.labels(prediction.status.value).inc()
            self.metrics.prediction_latency.observe(prediction.latency_ms)
            newest = (
                prediction.predicted_at if newest is None else max(newest, prediction.predicted_at)
            )
            if prediction.status is not PredictionStatus.OK:
                continue  # counted, never part of a window: no score, no features
            assert prediction.model_name is not None
            assert prediction.model_version is not None
            assert prediction.score is not None
            assert prediction.label is not None
            added = self.windows.add(
                model_name=prediction.model_name,
                model_version=prediction.model_version,
                request_id=prediction.request_id,
                at=prediction.predicted_at,
                features=prediction.features,
            )
            if not added:
                self.metrics.late_predictions.inc()
            key = self.windows.key_of(
                prediction.model_name, prediction.model_version, prediction.predicted_at
            )
            self.predictions.remember(
                RememberedPrediction(
                    request_id=prediction.request_id,
                    customer_id=prediction.customer_id,
                    predicted_at=prediction.predicted_at,
                    score=prediction.score,
                    label=prediction.label,
                    window=key,
                )
            )
        if newest is not None:
            self.metrics.window_lag.set((self.clock() - newest).total_seconds())
        self._observe(groups)
        await self._close(self.windows.close_due())

    def _observe(self, groups: dict[int | None, list[PredictionMade]]) -> None:
        if self.observer is None:
            return
        for version, members in groups.items():
            try:
                self.observer.record_predictions(
                    at=max(p.predicted_at for p in members),
                    count=len(members),
                    errors=sum(p.status is not PredictionStatus.OK for p in members),
                    latencies_ms=[p.latency_ms for p in members],
                    model_version=None if version is None else str(version),
                )
            except Exception:  # the dashboard must never stop the monitor
                logger.warning("traffic observer failed", exc_info=True)

    async def tick(self) -> None:
        """Periodic: when the stream has been quiet for ``idle_close``, close the windows
        the wall clock has passed; retry events whose publish failed."""
        quiet = time.monotonic() - self._last_arrival >= self.idle_close.total_seconds()
        await self._close(self.windows.close_due(self.clock()) if quiet else [])

    async def _close(self, closed: list[ClosedWindow]) -> None:
        async with self._lock:
            await self._emit_pending()
            if not closed:
                return
            done = await self._already_emitted("drift", [w.key.window_id for w in closed])
            for window in closed:
                if window.key.window_id in done:
                    self.metrics.windows.labels("drift", "replayed").inc()
                    logger.info(
                        "window already emitted: not again",
                        extra={"window_id": window.key.window_id},
                    )
                    continue
                event = await self._check(window)
                if event is not None:
                    self._pending.append(("drift", window.key.window_id, event))
            await self._emit_pending()

    async def _already_emitted(self, kind: WindowKind, window_ids: list[str]) -> set[str]:
        """The ledger's answer; when the database does not answer, none (the windows are
        closed already: better a repeat under the same event id, which consumers
        deduplicate, than a lost window)."""
        try:
            return await self.ledger.emitted(kind, window_ids)
        except Exception:
            logger.warning("emitted-window ledger unavailable", exc_info=True)
            return set()

    async def _check(self, window: ClosedWindow) -> DriftDetected | None:
        key = window.key
        extra = {"window_id": key.window_id, "predictions": window.count}
        if len(window.rows) < self.min_window_rows:
            self.metrics.windows.labels("drift", "too_small").inc()
            logger.info("window too small for a drift check", extra=extra)
            return None
        reference = await self.reference_for_window(key)
        if reference is None:
            self.metrics.windows.labels("drift", "no_reference").inc()
            logger.error(
                "window not checked: no drift reference for its model version", extra=extra
            )
            return None
        started = time.perf_counter()
        try:
            report = await asyncio.to_thread(
                self.drift.check, reference, window.rows, title=f"Data drift {key.window_id}"
            )
        except ValueError as error:  # too few complete rows
            self.metrics.windows.labels("drift", "too_small").inc()
            logger.info("window not checked", extra=extra | {"reason": str(error)})
            return None
        except Exception:
            self.metrics.windows.labels("drift", "failed").inc()
            logger.exception("drift check failed", extra=extra)
            return None
        self.metrics.drift_check_seconds.observe(time.perf_counter() - started)
        report_uri = await self._save_report(key.window_id, report)
        verdict = report.verdict
        now = self.clock()
        event = DriftDetected(
            window_id=key.window_id,
            window_start=key.start,
            window_end=key.end,
            sample_count=window.count,
            model_name=key.model_name,
            model_version=key.model_version,
            features=tuple(
                FeatureDrift(
                    feature=f.feature,
                    score=f.score,
                    method=f.method,
                    threshold=f.threshold,
                    drifted=f.drifted,
                )
                for f in verdict.features
            ),
            drift_share=verdict.drift_share,
            drift_share_threshold=verdict.drift_share_threshold,
            dataset_drift=verdict.dataset_drift,
            report_uri=report_uri,
            detected_at=now,
        )
        for feature in verdict.features:
            labels = (key.model_name, feature.feature, feature.method)
            self.metrics.feature_drift.labels(*labels).set(feature.score)
            self.metrics.feature_drift_threshold.labels(*labels).set(feature.threshold)
        self.metrics.drift_share.labels(key.model_name).set(verdict.drift_share)
        self.metrics.dataset_drift.labels(key.model_name).set(float(verdict.dataset_drift))
        self.metrics.window_close_lag.set((now - key.end).total_seconds())
        self.metrics.windows.labels("drift", "drifted" if verdict.dataset_drift else "ok").inc()
        logger.info(
            "window checked",
            extra=extra
            | {
                "rows_checked": report.rows,
                "reference_version": reference.model_version,
                "drift_share": round(verdict.drift_share, 3),
                "dataset_drift": verdict.dataset_drift,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return event

    async def _save_report(self, window_id: str, report: DriftReport) -> str | None:
        try:
            await asyncio.to_thread(
                self.reports.save, window_id, html=report.html, json=report.json
            )
        except OSError:
            logger.warning("report not saved", exc_info=True, extra={"window_id": window_id})
            return None
        return f"{self.report_base_url.rstrip('/')}/reports/{window_id}.html"

    async def _emit_pending(self) -> None:
        """Store each waiting window event with the window's ledger row (one transaction:
        the outbox publishes it), in order, then publish what was stored; when the
        database does not answer, keep the rest for the next call (the consumer goes on:
        the window's predictions are in no other window)."""
        stored = 0
        while self._pending:
            kind, window_id, event = self._pending[0]
            event_id = (
                drift_event_id(window_id) if kind == "drift" else performance_event_id(window_id)
            )
            try:
                await self.ledger.emit(kind, window_id, event, event_id)
            except Exception:
                logger.warning(
                    "window event not stored yet; retried later",
                    exc_info=True,
                    extra={"window_id": window_id, "kind": kind},
                )
                break
            self._pending.pop(0)
            stored += 1
        if stored:
            await self.outbox.flush()

    # ---------------------------------------------------------------- labels

    async def on_label_events(self, envelopes: Sequence[Envelope[LabelObserved]]) -> None:
        """A batch of ``customer.labels`` (see :meth:`on_labels`)."""
        await self.on_labels([envelope.data for envelope in envelopes])

    async def on_labels(self, labels: Sequence[LabelObserved]) -> None:
        """Join each label to its prediction; judge the windows that got enough labels."""
        touched: set[WindowKey] = set()
        for label in labels:
            outcome, join = self.predictions.resolve(
                customer_id=label.customer_id,
                churned=label.churned,
                prediction_point=label.prediction_point,
                request_id=label.prediction_request_id,
            )
            self.metrics.labels.labels(outcome.value).inc()
            if outcome is not JoinOutcome.JOINED or join is None:
                continue
            key = join.prediction.window
            if key.window_id in self._judged:
                continue
            window = self._labelled.get(key)
            if window is None:
                window = self._labelled[key] = LabelledWindow(key)
                self._forget_old_labelled_windows()
            window.add(join.prediction.score, join.prediction.label, join.churned)
            touched.add(key)
        if touched:
            await self._judge(touched)

    def _forget_old_labelled_windows(self) -> None:
        while len(self._labelled) > self.max_labelled_windows:
            oldest = min(self._labelled, key=lambda k: k.start)
            del self._labelled[oldest]

    async def _judge(self, keys: set[WindowKey]) -> None:
        async with self._lock:
            done = await self._already_emitted("performance", [k.window_id for k in keys])
            for key in sorted(keys, key=lambda k: k.start):
                if key.window_id in done:
                    self._judged.add(key.window_id)
                    self._labelled.pop(key, None)
                    continue
                reference = await self._reference(key.model_name, key.model_version)
                baseline = None
                if reference is not None and reference.baseline is not None:
                    baseline = reference.baseline.get(self.performance.metric)
                window = self._labelled.get(key)
                if window is None:  # forgotten (the oldest) while this batch was joined
                    continue
                judgement = window.judge(self.performance, baseline)
                if judgement is None:
                    continue
                self._judged.add(key.window_id)
                self._labelled.pop(key, None)
                self._pending.append(
                    ("performance", key.window_id, self._performance_event(judgement))
                )
            await self._emit_pending()

    def _performance_event(self, judgement: PerformanceJudgement) -> PerformanceDegraded:
        key = judgement.key
        self.metrics.live_metric.labels(key.model_name, "accuracy").set(judgement.accuracy)
        if judgement.roc_auc is not None:
            self.metrics.live_metric.labels(key.model_name, "roc_auc").set(judgement.roc_auc)
        self.metrics.windows.labels("performance", "degraded" if judgement.degraded else "ok").inc()
        logger.info(
            "window performance judged",
            extra={
                "window_id": key.window_id,
                "metric": judgement.metric,
                "value": round(judgement.value, 4),
                "threshold": round(judgement.threshold, 4),
                "labelled": judgement.labelled,
                "degraded": judgement.degraded,
            },
        )
        return PerformanceDegraded(
            window_id=key.window_id,
            window_start=key.start,
            window_end=key.end,
            model_name=key.model_name,
            model_version=key.model_version,
            metric=judgement.metric,
            value=judgement.value,
            threshold=judgement.threshold,
            baseline_value=judgement.baseline,
            labelled_count=judgement.labelled,
            degraded=judgement.degraded,
            detected_at=self.clock(),
        )
