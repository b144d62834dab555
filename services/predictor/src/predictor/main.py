"""Composition root of the predictor service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from mlops_contracts import ModelPromoted, PredictionRequested, topic_for
from model_store.access import mlflow_readiness
from predictor.bootstrap import PredictorPlane
from predictor.decoding import decode_prediction_request
from predictor.handlers import decisions_handler, requests_handler
from predictor.settings import PredictorSettings
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: PredictorSettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    plane = PredictorPlane(settings)
    runtime.consume_batches(
        topic_for(PredictionRequested),
        requests_handler(plane.require),
        max_batch=settings.max_batch,
        max_wait_ms=settings.max_wait_ms,
        decoder=decode_prediction_request,
        # An answer is idempotent (same request id, same model): a redelivered request
        # is answered again rather than paying a dedup query on the hot path.
        idempotent=False,
        request_path=True,  # the gateway's callers wait on these
    )
    # Every replica reads every decision: its own consumer group (broadcast).
    runtime.consume(
        topic_for(ModelPromoted),
        decisions_handler(plane.require),
        group_id=f"{settings.service_name}-{settings.instance_id}",
    )
    runtime.readiness["model"] = plane.model_ready
    runtime.readiness["feature_store"] = plane.store_ready
    runtime.readiness["mlflow"] = mlflow_readiness(lambda: plane.require().models)
    app = create_service_app(
        runtime,
        title="predictor",
        description="Predictor: micro-batched churn scoring with hot model swap (N replicas).",
        on_start=[plane.start],
    )
    app.state.predictor = plane
    return app
