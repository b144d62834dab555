"""Composition root of the feature service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from feature import routes
from feature.bootstrap import FeaturePlane
from feature.handlers import activity_handler
from feature.settings import FeatureSettings
from mlops_contracts import CustomerActivityRecorded, topic_for
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: FeatureSettings) -> FastAPI:
    """Build the app; the feature store and the database open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    plane = FeaturePlane(settings)
    runtime.consume_batches(
        topic_for(CustomerActivityRecorded),
        activity_handler(plane.require),
        idempotent=False,  # the activity log deduplicates on record id itself
        max_batch=settings.consume_max_batch,
    )
    runtime.readiness["feature_store"] = plane.store_ready
    app = create_service_app(
        runtime,
        title="feature",
        description="Feature: keeps the Feast offline and online stores current.",
        routers=[routes.router],
        on_start=[plane.start],
        on_stop=[plane.stop],
    )
    app.state.features = plane
    return app
