"""Composition root of the feature service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from feature.settings import FeatureSettings
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: FeatureSettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    return create_service_app(
        runtime,
        title="feature",
        description="Feature: keeps the Feast offline and online stores current.",
    )
