"""Composition root of the gateway service: ``create_app(settings)``, no I/O at import."""

from collections.abc import Sequence
from datetime import timedelta

from fastapi import FastAPI

from gateway.metrics import GatewayMetrics
from gateway.replies import PendingReplies
from gateway.routes import GatewayHttp, router
from gateway.settings import GatewaySettings
from mlops_contracts import Envelope, PredictionMade, reply_topic_spec
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: GatewaySettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    metrics = GatewayMetrics.register(runtime.metrics)
    http = GatewayHttp(
        deadline=timedelta(milliseconds=settings.deadline_ms),
        max_batch=settings.max_batch,
        max_body_bytes=settings.max_body_bytes,
        metrics=metrics,
    )
    replies = reply_topic_spec(settings.reply_instance)

    async def on_replies(envelopes: Sequence[Envelope[PredictionMade]]) -> None:
        for envelope in envelopes:
            if http.pending is not None and not http.pending.resolve(envelope.data):
                metrics.late_replies.inc()

    # Only this instance reads its reply topic, in a group of its own: no other gateway
    # instance ever sees (or steals) these replies. In batches, their offsets committed
    # together (not one commit per reply) on the path its callers wait on.
    runtime.consume_batches(
        replies,
        on_replies,
        group_id=f"gateway-{settings.reply_instance}",
        idempotent=False,
        request_path=True,
    )

    async def start(_runtime: ServiceRuntime) -> None:
        http.guard.load(settings.api_token, settings.data_dir, "GATEWAY_API_TOKEN")
        await runtime.ensure_topics([replies])
        http.pending = PendingReplies(publisher=runtime.publisher, reply_topic=replies.name)

    app = create_service_app(
        runtime,
        title="gateway",
        description="REST gateway: synchronous predictions over Kafka request/reply "
        "(PredictionRequested with this instance's reply topic; the PredictionMade answer "
        "within a deadline).",
        routers=[router],
        on_start=[start],
    )
    app.state.gateway_http = http
    return app
