"""Composition root of the retrain-trigger service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from mlops_contracts import (
    DriftDetected,
    LabelObserved,
    ModelPromoted,
    ModelTrained,
    PerformanceDegraded,
    topic_for,
)
from retrain_trigger import routes
from retrain_trigger.bootstrap import TriggerPlane
from retrain_trigger.handlers import (
    drift_handler,
    gate_decision_handler,
    labels_handler,
    performance_handler,
    training_result_handler,
)
from retrain_trigger.settings import RetrainTriggerSettings
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: RetrainTriggerSettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    plane = TriggerPlane(settings)
    runtime.consume(topic_for(DriftDetected), drift_handler(plane.require))
    runtime.consume(topic_for(PerformanceDegraded), performance_handler(plane.require))
    runtime.consume(topic_for(ModelTrained), training_result_handler(plane.require))
    runtime.consume(topic_for(ModelPromoted), gate_decision_handler(plane.require))
    runtime.consume_batches(
        topic_for(LabelObserved),
        labels_handler(plane.require),
        # The service's own group (its Kafka ACLs allow no other); no processed-id rows
        # per label: the label count deduplicates on record id itself.
        idempotent=False,
    )
    http = routes.TriggerHttp(plane, max_body_bytes=settings.max_body_bytes)

    async def load_token(_runtime: ServiceRuntime) -> None:
        http.guard.load(settings.api_token, settings.data_dir, "RETRAIN_TRIGGER_API_TOKEN")

    app = create_service_app(
        runtime,
        title="retrain-trigger",
        description=(
            "Retrain trigger: turns drift and degradation into at most one training at a time."
        ),
        routers=[routes.router],
        on_start=[load_token, plane.start],
        on_stop=[plane.stop],
    )
    app.state.trigger_http = http
    app.state.trigger = plane
    return app
