"""Composition root of the monitor service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from monitor.settings import MonitorSettings
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: MonitorSettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    return create_service_app(
        runtime,
        title="monitor",
        description=(
            "Monitor: drift and performance windows, Prometheus metrics, the drift dashboard."
        ),
    )
