"""The gateway service, declared: its components, its subscription and its routes."""

from __future__ import annotations

from fastapi import FastAPI

from gateway import routes
from gateway.metrics import GatewayMetrics
from gateway.replies import PendingReplies
from gateway.settings import GatewaySettings
from mlops_contracts import reply_topic_spec
from service_kit import Kafka, ServiceRuntime, batches, service_app


async def build(settings: GatewaySettings, runtime: ServiceRuntime) -> PendingReplies:
    """This instance's reply topic (created unless it exists), its waiting requests and
    the applied model projects."""
    replies = reply_topic_spec(settings.reply_instance)
    await runtime.kafka.ensure_topics([replies])
    return PendingReplies(
        publisher=runtime.publisher,
        reply_topic=replies.name,
        metrics=GatewayMetrics.register(runtime.metrics),
        projects=await runtime.projects(),
    )


def create_app(settings: GatewaySettings, kafka: Kafka | None = None) -> FastAPI:
    """The gateway's app; nothing connects before its lifespan runs."""
    return service_app(
        settings,
        title="gateway",
        description="REST gateway: synchronous predictions over Kafka request/reply "
        "(PredictionRequested with this instance's reply topic; the PredictionMade answer "
        "within a deadline).",
        build=build,
        subscriptions=[
            # Only this instance reads its reply topic, in a group of its own: no other
            # gateway instance ever sees (or steals) these replies. In batches, their
            # offsets committed together, on the path its callers wait on.
            batches(
                reply_topic_spec(settings.reply_instance),
                lambda replies: replies.on_replies,
                group=lambda _: f"gateway-{settings.reply_instance}",
                idempotent=False,
                request_path=True,
            )
        ],
        routers=[routes.router],
        kafka=kafka,
    )
