"""Composition root of the monitor service: ``create_app(settings)``, no I/O at import."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from mlops_contracts import LabelObserved, ModelPromoted, PredictionMade, topic_for
from model_store.access import mlflow_readiness
from monitor import routes
from monitor.bootstrap import MonitorPlane
from monitor.dashboard.mount import create_dashboard_feed, mount_dashboard
from monitor.handlers import decisions_handler, labels_handler, predictions_handler
from monitor.service import ReferenceSource, TrafficObserver
from monitor.settings import MonitorSettings
from service_kit import ServiceRuntime, create_service_app

if TYPE_CHECKING:
    from model_store import ModelStore


def create_app(
    settings: MonitorSettings,
    *,
    observer: TrafficObserver | None = None,
    references: ReferenceSource | None = None,
) -> FastAPI:
    """Build the app; connections open in its lifespan, not here. ``observer`` is told
    about every consumed batch of predictions (by default the dashboard's traffic feed);
    ``references`` replaces the MLflow reference source (tests)."""
    runtime = ServiceRuntime(settings)
    feed = create_dashboard_feed(settings)
    plane = MonitorPlane(settings, observer=observer or feed, references=references)
    runtime.consume_batches(
        topic_for(PredictionMade),
        predictions_handler(plane.require),
        max_batch=settings.consume_max_batch,
        linger_ms=settings.consume_linger_ms,
        # At thousands of predictions/s a processed-id per prediction costs more than it
        # saves: a window's sample keeps a redelivered prediction once (by request id) and
        # the emitted-window ledger keeps a window from being emitted twice.
        idempotent=False,
    )
    # Groups of their own (`monitor.` prefix): a rebalance of these small consumers never
    # pauses the high-volume predictions group.
    runtime.consume_batches(
        topic_for(LabelObserved),
        labels_handler(plane.require),
        group_id=f"{settings.service_name}.labels",
    )
    runtime.consume(
        topic_for(ModelPromoted),
        decisions_handler(plane.require),
        group_id=f"{settings.service_name}.decisions",
    )
    if references is None:
        runtime.readiness["mlflow"] = mlflow_readiness(lambda: _models(plane))
    app = create_service_app(
        runtime,
        title="monitor",
        description=(
            "Monitor: drift and performance windows, Prometheus metrics, the drift dashboard."
        ),
        routers=[routes.router],
        on_start=[plane.start],
        on_stop=[plane.stop],
    )
    mount_dashboard(app, runtime, settings, feed=feed)
    app.state.monitor = plane
    return app


def _models(plane: MonitorPlane) -> ModelStore:
    models = plane.require().models
    assert models is not None  # built whenever no reference source replaces MLflow
    return models
