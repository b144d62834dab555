"""What the monitor's dashboard tests share: an app that serves the dashboard alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from monitor.dashboard.feed import DashboardFeed
from monitor.dashboard.mount import dashboard_subscription, mount_routes

from service_kit import Kafka, ServiceRuntime, ServiceSettings, service_app


async def _nothing(_settings: ServiceSettings, _runtime: ServiceRuntime) -> None:
    return None


def _dashboard_app(settings: Any, feed: DashboardFeed, kafka: Kafka | None = None) -> FastAPI:
    app = service_app(
        settings,
        title="monitor",
        description="the dashboard alone",
        build=_nothing,
        subscriptions=[dashboard_subscription(feed)],
        kafka=kafka,
    )
    mount_routes(app, feed, settings)
    return app


@pytest.fixture
def dashboard_app() -> Callable[..., FastAPI]:
    """``dashboard_app(settings, feed, kafka=None)``: a service app whose only consumer and
    routes are the dashboard's (``kafka``: the in-memory Kafka; None: the real broker)."""
    return _dashboard_app
