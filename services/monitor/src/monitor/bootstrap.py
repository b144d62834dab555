"""The one place the monitor's concrete adapters are built, inside the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from monitor.adapters.evidently_drift import EvidentlyDriftCheck
from monitor.adapters.metrics import MonitorMetrics
from monitor.adapters.reports import ReportArchive
from monitor.adapters.window_ledger import SqlWindowLedger
from monitor.adapters.window_snapshot import WindowSnapshotFile
from monitor.domain.label_join import PredictionLog
from monitor.domain.windows import WindowBook
from monitor.service import MonitorEngine, ReferenceSource, TrafficObserver
from monitor.settings import MonitorSettings
from service_kit import DependencyNotReady, ServiceRuntime

if TYPE_CHECKING:
    from model_store import ModelStore

logger = logging.getLogger(__name__)

_TICK_S = 1.0


@dataclass(frozen=True)
class MonitorComponents:
    """The running service's engine and what the routes read."""

    engine: MonitorEngine
    reports: ReportArchive
    models: ModelStore | None
    snapshot: WindowSnapshotFile


def build_metrics(runtime: ServiceRuntime) -> MonitorMetrics:
    """The monitor's metrics in the runtime's registry (once per runtime)."""
    return MonitorMetrics(runtime.metrics)


async def bootstrap(
    settings: MonitorSettings,
    runtime: ServiceRuntime,
    metrics: MonitorMetrics,
    *,
    observer: TrafficObserver | None = None,
    references: ReferenceSource | None = None,
) -> MonitorComponents:
    """Open the ledger and the MLflow client (unless ``references`` replaces it)."""
    ledger = SqlWindowLedger(runtime.engine)
    await ledger.create_schema()
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
            lateness=_seconds(settings.window_lateness_seconds),
        ),
        predictions=PredictionLog(
            max_customers=settings.join_max_customers,
            per_customer=settings.join_per_customer,
            max_delay=settings.label_max_delay,
        ),
        performance=settings.performance_policy(),
        references=references,
        drift=EvidentlyDriftCheck(settings.drift_policy()),
        ledger=ledger,
        reports=reports,
        publisher=runtime.publisher,
        metrics=metrics,
        report_base_url=settings.report_base_url,
        min_window_rows=settings.window_min_size,
        observer=observer,
        idle_close=_seconds(settings.window_idle_close_seconds),
    )
    return MonitorComponents(
        engine=engine,
        reports=reports,
        models=models,
        snapshot=WindowSnapshotFile(settings.data_dir / "open_windows.json"),
    )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


class MonitorPlane:
    """Holds the components between the lifespan's start and stop hooks, and runs the
    idle-close ticker."""

    def __init__(
        self,
        settings: MonitorSettings,
        *,
        observer: TrafficObserver | None = None,
        references: ReferenceSource | None = None,
    ) -> None:
        self.settings = settings
        self.observer = observer
        self.references = references
        self.components: MonitorComponents | None = None
        self._metrics: MonitorMetrics | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._warm_up: asyncio.Task[None] | None = None

    def require(self) -> MonitorComponents:
        """The running components; raises while the service is not started."""
        if self.components is None:
            raise DependencyNotReady("the monitor is not started yet")
        return self.components

    async def start(self, runtime: ServiceRuntime) -> None:
        """on_start hook: build the adapters, load the champion's reference, start ticking."""
        if self._metrics is None:
            self._metrics = build_metrics(runtime)
        self.components = await bootstrap(
            self.settings,
            runtime,
            self._metrics,
            observer=self.observer,
            references=self.references,
        )
        # Evidently takes seconds to import: pay it now, beside the first batches.
        self._warm_up = asyncio.create_task(asyncio.to_thread(EvidentlyDriftCheck.warm_up))
        self._restore(self.components)
        await self.components.engine.start()
        self._ticker = asyncio.create_task(self._tick(self.components.engine))

    async def stop(self, _runtime: ServiceRuntime) -> None:
        """on_stop hook (after the consumers drained and committed): stop the ticker and
        save the windows still open for the next start."""
        for task in (self._ticker, self._warm_up):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._ticker = self._warm_up = None
        if self.components is not None:
            document = self.components.engine.windows.export()
            try:
                await asyncio.to_thread(self.components.snapshot.save, document)
            except OSError:
                logger.warning("open windows not saved", exc_info=True)
            else:
                logger.info("open windows saved", extra={"windows": len(document["windows"])})

    @staticmethod
    def _restore(components: MonitorComponents) -> None:
        document = components.snapshot.take()
        if document is None:
            return
        try:
            restored = components.engine.windows.restore(document)
        except (KeyError, TypeError, ValueError) as error:
            logger.warning("window snapshot not restored", extra={"error": str(error)})
            return
        logger.info("open windows restored", extra={"windows": restored})

    async def _tick(self, engine: MonitorEngine) -> None:
        while True:
            await asyncio.sleep(_TICK_S)
            try:
                await engine.tick()
            except Exception:
                logger.warning("monitor tick failed", exc_info=True)
