"""Composition root of the ingest service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from ingest.settings import IngestSettings
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: IngestSettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    return create_service_app(
        runtime,
        title="ingest",
        description="Ingest: validates customer activity and delayed churn labels.",
    )
