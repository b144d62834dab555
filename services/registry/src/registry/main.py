"""Composition root of the registry service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from registry.settings import RegistrySettings
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: RegistrySettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    return create_service_app(
        runtime,
        title="registry",
        description="Registry: the promotion gate over the MLflow Model Registry.",
    )
