"""Composition root of the predictor service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from predictor.settings import PredictorSettings
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: PredictorSettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    return create_service_app(
        runtime,
        title="predictor",
        description="Predictor: micro-batched churn scoring with hot model swap (N replicas).",
    )
