"""The monitor service, declared: its components, its subscriptions and its routes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI

from mlops_contracts import LabelObserved, ModelPromoted, PredictionMade, topic_for
from model_store.access import mlflow_ready
from monitor import routes
from monitor.adapters import window_ledger
from monitor.adapters.evidently_drift import EvidentlyDriftCheck
from monitor.adapters.metrics import MonitorMetrics
from monitor.adapters.reports import ReportArchive
from monitor.adapters.window_ledger import SqlWindowLedger
from monitor.adapters.window_snapshot import WindowSnapshotFile
from monitor.dashboard.mount import create_dashboard_feed, dashboard_subscription, mount_routes
from monitor.domain.label_join import PredictionLog
from monitor.domain.windows import WindowBook
from monitor.service import MonitorEngine, ReferenceSource, TrafficObserver
from monitor.settings import MonitorSettings
from service_kit import Kafka, ServiceRuntime, batches, each, every, own_group, service_app

if TYPE_CHECKING:
    from model_store import ModelStore

logger = logging.getLogger(__name__)

TICK_S = 1.0
"""How often the idle-close check runs."""


@dataclass(frozen=True)
class RunningMonitor:
    """The engine, the report archive the routes serve, the MLflow client (None when a
    reference source replaces it) and the file the open windows are saved to at stop."""

    engine: MonitorEngine
    reports: ReportArchive
    models: ModelStore | None
    snapshot: WindowSnapshotFile

    async def start(self) -> None:
        """Restore the windows saved at the last stop; load the champion's reference."""
        document = self.snapshot.take()
        if document is not None:
            try:
                restored = self.engine.windows.restore(document)
            except (KeyError, TypeError, ValueError) as error:
                logger.warning("window snapshot not restored", extra={"error": str(error)})
            else:
                logger.info("open windows restored", extra={"windows": restored})
        await self.engine.start()

    async def stop(self) -> None:
        """Save the windows still open (the consumers have drained and committed)."""
        document = self.engine.windows.export()
        try:
            await asyncio.to_thread(self.snapshot.save, document)
        except OSError:
            logger.warning("open windows not saved", exc_info=True)
        else:
            logger.info("open windows saved", extra={"windows": len(document["windows"])})

    async def ready(self) -> None:
        """Readiness: MLflow answers (when the references come from it)."""
        if self.models is not None:
            await mlflow_ready(self.models)


async def build(
    settings: MonitorSettings,
    runtime: ServiceRuntime,
    *,
    metrics: MonitorMetrics,
    observer: TrafficObserver | None,
    references: ReferenceSource | None,
) -> RunningMonitor:
    """Open the ledger and the MLflow client (unless ``references`` replaces it)."""
    models = None
    if references is None:
        from model_store import ModelStore
        from monitor.adapters.references import MlflowReferenceSource

        models = await asyncio.to_thread(ModelStore, settings.mlflow_tracking_uri)
        references = MlflowReferenceSource(models, max_rows=settings.reference_max_rows)
    reports = ReportArchive(settings.data_dir / "reports", settings.report_retention)
    engine = MonitorEngine(
        model_name=settings.model_name,
        windows=WindowBook(
            seconds=settings.window_seconds,
            max_rows=settings.window_size,
            lateness=timedelta(seconds=settings.window_lateness_seconds),
        ),
        predictions=PredictionLog(
            max_customers=settings.join_max_customers,
            per_customer=settings.join_per_customer,
            max_delay=settings.label_max_delay,
        ),
        performance=settings.performance_policy(),
        references=references,
        drift=EvidentlyDriftCheck(settings.drift_policy()),
        ledger=SqlWindowLedger(runtime.engine, runtime.outbox),
        reports=reports,
        outbox=runtime.outbox,
        metrics=metrics,
        report_base_url=settings.report_base_url,
        min_window_rows=settings.window_min_size,
        observer=observer,
        idle_close=timedelta(seconds=settings.window_idle_close_seconds),
    )
    return RunningMonitor(
        engine=engine,
        reports=reports,
        models=models,
        snapshot=WindowSnapshotFile(settings.data_dir / "open_windows.json"),
    )


def create_app(
    settings: MonitorSettings,
    kafka: Kafka | None = None,
    *,
    observer: TrafficObserver | None = None,
    references: ReferenceSource | None = None,
) -> FastAPI:
    """The monitor's app; nothing connects before its lifespan runs. ``observer`` is told
    about every consumed batch of predictions (by default the dashboard's traffic feed);
    ``references`` replaces the MLflow reference source (tests)."""
    feed = create_dashboard_feed(settings)
    metrics: MonitorMetrics | None = None

    async def build_monitor(settings: MonitorSettings, runtime: ServiceRuntime) -> RunningMonitor:
        nonlocal metrics
        metrics = metrics or MonitorMetrics(runtime.metrics)  # once per registry
        return await build(
            settings, runtime, metrics=metrics, observer=observer or feed, references=references
        )

    app = service_app(
        settings,
        title="monitor",
        description=(
            "Monitor: drift and performance windows, Prometheus metrics, the drift dashboard."
        ),
        build=build_monitor,
        on_start=[RunningMonitor.start],
        on_stop=[RunningMonitor.stop],
        subscriptions=[
            batches(
                topic_for(PredictionMade),
                lambda monitor: monitor.engine.on_prediction_events,
                max_batch=settings.consume_max_batch,
                linger_ms=settings.consume_linger_ms,
                # At thousands of predictions/s a processed-id per prediction costs more
                # than it saves: a window's sample keeps a redelivered prediction once (by
                # request id) and the emitted-window ledger keeps a window from being
                # emitted twice.
                idempotent=False,
            ),
            # Groups of their own: a rebalance of these small consumers never pauses the
            # high-volume predictions group.
            batches(
                topic_for(LabelObserved),
                lambda monitor: monitor.engine.on_label_events,
                group=own_group("labels"),
            ),
            each(
                topic_for(ModelPromoted),
                lambda monitor: monitor.engine.on_decision,
                group=own_group("decisions"),
            ),
            dashboard_subscription(feed),
        ],
        readiness={"mlflow": RunningMonitor.ready},
        background={
            "idle-close ticker": lambda monitor: every(TICK_S, monitor.engine.tick),
            # Evidently takes seconds to import: pay it now, beside the first batches.
            "evidently warm-up": lambda _: lambda: asyncio.to_thread(EvidentlyDriftCheck.warm_up),
        },
        routers=[routes.router],
        migrations=[window_ledger.MIGRATIONS],
        kafka=kafka,
    )
    mount_routes(app, feed, settings)
    return app
