"""The dashboard in the monitor's app: its consumer and its routes."""

from __future__ import annotations

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
from service_kit import ServiceSettings, Subscription, batches, one_at_a_time
from service_kit.consumption import decode_cloud_event
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


def dashboard_subscription(feed: DashboardFeed) -> Subscription[Any]:
    """The dashboard's one consumer of every loop topic, feeding ``feed``: a group new at
    every start (the state is in memory, so each start reads the topics again from the
    earliest offset), no processed ids (a replay is wanted; the projection ignores an
    event id it has already applied)."""
    return batches(
        DASHBOARD_TOPICS[0],
        lambda _components: one_at_a_time(feed.on_event),
        group=dashboard_group_id,
        idempotent=False,
        decoder=_decode_by_topic,
        max_batch=500,
        topic_names=[topic.name for topic in DASHBOARD_TOPICS],
    )


def mount_routes(app: FastAPI, feed: DashboardFeed, settings: DashboardSettings) -> None:
    """Serve ``feed`` on ``app``: the page, its state, its live stream, its static files."""
    app.include_router(dashboard_router(feed, heartbeat_s=settings.dashboard_heartbeat_s))
    app.mount(
        "/dashboard/static",
        StaticFiles(packages=[("monitor.dashboard", "static")]),
        name="dashboard-static",
    )
    app.state.dashboard = feed
