"""Composition root of the gateway service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from gateway.settings import GatewaySettings
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: GatewaySettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    return create_service_app(
        runtime,
        title="gateway",
        description="REST gateway: synchronous predictions over Kafka request/reply.",
    )
