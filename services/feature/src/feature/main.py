"""The feature service, declared: its components, its subscription and its routes."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from churn_features import open_feature_store
from feature import routes
from feature.adapters import activity_log
from feature.adapters.activity_log import SqlActivityLog
from feature.adapters.feature_store import ThreadedFeatureStore
from feature.adapters.metrics import FeatureMetrics
from feature.domain.materialization import LatenessPolicy
from feature.service import FeatureService, Materializer
from feature.settings import FeatureSettings
from mlops_contracts import CustomerActivityRecorded, FeaturesMaterialized, topic_for
from service_kit import Kafka, ServiceRuntime, batches, service_app


async def build(settings: FeatureSettings, runtime: ServiceRuntime) -> FeatureService:
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
    return FeatureService(log=log, store=store, materializer=materializer, metrics=metrics)


def create_app(settings: FeatureSettings, kafka: Kafka | None = None) -> FastAPI:
    """The feature service's app; nothing connects before its lifespan runs."""
    return service_app(
        settings,
        title="feature",
        description="Feature: keeps the Feast offline and online stores current.",
        build=build,
        on_start=[lambda features: features.materializer.start()],
        on_stop=[lambda features: features.materializer.stop()],
        subscriptions=[
            batches(
                topic_for(CustomerActivityRecorded),
                lambda features: features.on_activity,
                idempotent=False,  # the activity log deduplicates on record id itself
                max_batch=settings.consume_max_batch,
            )
        ],
        readiness={"feature_store": lambda features: features.store.store.ready()},
        routers=[routes.router],
        migrations=[activity_log.MIGRATIONS],
        kafka=kafka,
    )
