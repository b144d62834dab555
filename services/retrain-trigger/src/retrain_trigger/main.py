"""Composition root of the retrain-trigger service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from retrain_trigger.settings import RetrainTriggerSettings
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: RetrainTriggerSettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    return create_service_app(
        runtime,
        title="retrain-trigger",
        description=(
            "Retrain trigger: turns drift and degradation into at most one training at a time."
        ),
    )
