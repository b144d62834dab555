"""The one place the feature service's concrete adapters are built, inside the lifespan."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass

from churn_features import open_feature_store
from feature.adapters.activity_log import SqlActivityLog
from feature.adapters.feature_store import ThreadedFeatureStore
from feature.adapters.metrics import FeatureMetrics
from feature.domain.materialization import LatenessPolicy
from feature.service import Materializer
from feature.settings import FeatureSettings
from mlops_contracts import FeaturesMaterialized
from service_kit import DependencyNotReady, ServiceRuntime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureComponents:
    """The running service's adapters and background writer."""

    settings: FeatureSettings
    store: ThreadedFeatureStore
    log: SqlActivityLog
    materializer: Materializer
    metrics: FeatureMetrics


async def bootstrap(settings: FeatureSettings, runtime: ServiceRuntime) -> FeatureComponents:
    """Open the feature store (apply the Feast definitions) and the activity log."""
    store = ThreadedFeatureStore(open_feature_store(settings.store_settings()))
    await store.apply()
    # Feast and pandas leave a large heap of long-lived objects; a full collection walking
    # it stalls the loop ~200 ms. Freeze what exists now out of the collector's reach.
    gc.freeze()
    log = SqlActivityLog(
        runtime.engine,
        instance_id=settings.instance_id,
        policy=LatenessPolicy(settings.allowed_lateness),
    )
    await log.create_schema()
    metrics = FeatureMetrics(runtime.metrics)

    def written(summary: FeaturesMaterialized, seconds: float) -> None:
        metrics.rows_written.inc(summary.rows_written)
        metrics.write_seconds.observe(seconds)

    materializer = Materializer(
        log=log,
        store=store,
        publisher=runtime.publisher,
        interval=settings.flush_interval_s,
        max_customers=settings.flush_max_customers,
        lease=settings.claim_lease,
        on_written=written,
    )
    return FeatureComponents(settings, store, log, materializer, metrics)


class FeaturePlane:
    """Holds the components between the lifespan's start and stop hooks."""

    def __init__(self, settings: FeatureSettings) -> None:
        self.settings = settings
        self.components: FeatureComponents | None = None

    def require(self) -> FeatureComponents:
        """The running components; raises while the service is not started."""
        if self.components is None:
            raise DependencyNotReady("the feature store is not open yet")
        return self.components

    async def start(self, runtime: ServiceRuntime) -> None:
        """on_start hook: build the adapters, then start the background writer."""
        self.components = await bootstrap(self.settings, runtime)
        await self.components.materializer.start()

    async def stop(self, _runtime: ServiceRuntime) -> None:
        """on_stop hook: let the write in progress finish; the rest stays pending."""
        if self.components is not None:
            await self.components.materializer.stop()

    async def store_ready(self) -> None:
        """Readiness check: the online store answers a lookup."""
        try:
            await self.require().store.ping()
        except DependencyNotReady:
            raise
        except Exception as error:
            raise DependencyNotReady(f"online feature store did not answer: {error}") from error
