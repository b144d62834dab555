"""Wiring of the dashboard into the monitor's app: its consumer and its routes."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mlops_contracts import (
    DriftDetected,
    Envelope,
    ModelPromoted,
    ModelTrained,
    PerformanceDegraded,
    PredictorModelLoaded,
    TopicSpec,
    TrainingProgress,
    TrainingRequested,
    TrainingSuppressed,
    topic_for,
    topic_spec,
)
from monitor.dashboard.feed import DashboardFeed
from monitor.dashboard.projection import DashboardProjection
from monitor.dashboard.routes import dashboard_router
from monitor.dashboard.settings import DashboardSettings
from service_kit import EventConsumer, ServiceRuntime, ServiceSettings, one_at_a_time
from service_kit.consumption import decode_cloud_event, subscribe
from service_kit.dead_letters import ConsumedRecord

DASHBOARD_TOPICS: tuple[TopicSpec, ...] = tuple(
    topic_for(event)
    for event in (
        DriftDetected,
        PerformanceDegraded,
        TrainingRequested,
        TrainingSuppressed,
        TrainingProgress,
        ModelTrained,  # and TrainingFailed
        ModelPromoted,  # and ModelRejected
        PredictorModelLoaded,  # and PredictorModelRefused
    )
)
"""The topics the dashboard projects, read by one consumer (one group join, not eight)."""


def dashboard_group_id(settings: ServiceSettings) -> str:
    """A consumer group of this process alone, new at every start.

    The dashboard's state lives in memory, so each start must read the topics again from
    the earliest offset: a fresh group has no committed offsets. It starts with
    ``<service>.`` so one prefix ACL covers every monitor's dashboard groups."""
    return f"{settings.service_name}.dashboard.{settings.instance_id}.{uuid.uuid4().hex[:8]}"


def _decode_by_topic(record: ConsumedRecord, _topic: TopicSpec) -> Envelope[Any]:
    # One consumer reads several topics: each record is checked against its own topic's types.
    return decode_cloud_event(record, topic_spec(record.topic))


def create_dashboard_feed(settings: DashboardSettings) -> DashboardFeed:
    """The dashboard's state and live subscribers, before the app exists (the monitor's
    engine takes it as its traffic observer)."""
    return DashboardFeed(
        DashboardProjection(
            history=settings.dashboard_history,
            traffic_bucket_s=settings.dashboard_traffic_bucket_s,
            mlflow_url=settings.dashboard_mlflow_url,
        ),
        max_clients=settings.dashboard_max_clients,
    )


def mount_dashboard(
    app: FastAPI,
    runtime: ServiceRuntime,
    settings: DashboardSettings,
    *,
    feed: DashboardFeed | None = None,
) -> DashboardFeed:
    """Add the dashboard to the monitor's ``app``: its consumer on ``runtime``'s broker
    (call before the app starts) and its routes ``/dashboard``, ``/dashboard/state``,
    ``/dashboard/events`` and ``/dashboard/static/*``. Returns ``feed`` (a new one when
    None), whose ``record_predictions`` the monitor calls for every consumed batch of
    predictions."""
    feed = feed or create_dashboard_feed(settings)
    consumer = EventConsumer(
        topic=DASHBOARD_TOPICS[0],
        group_id=dashboard_group_id(runtime.settings),
        handler=one_at_a_time(feed.on_event),
        dead_letters=runtime.dead_letters,
        # A replay after a restart is wanted (the state is in memory); the projection
        # ignores an event id it has already applied.
        processed=None,
        decoder=_decode_by_topic,
    )
    subscribe(
        runtime.broker,
        consumer,
        # A page shows the loop's history: always start a new group at the earliest offset.
        dataclasses.replace(runtime.settings.kafka_profile, auto_offset_reset="earliest"),
        topic_names=[topic.name for topic in DASHBOARD_TOPICS],
        max_batch=500,
        max_wait_ms=50,
    )
    mount_routes(app, feed, settings)
    return feed


def mount_routes(app: FastAPI, feed: DashboardFeed, settings: DashboardSettings) -> None:
    """Serve ``feed`` on ``app``: the page, its state, its live stream, its static files."""
    app.include_router(dashboard_router(feed, heartbeat_s=settings.dashboard_heartbeat_s))
    app.mount(
        "/dashboard/static",
        StaticFiles(packages=[("monitor.dashboard", "static")]),
        name="dashboard-static",
    )
    app.state.dashboard = feed
