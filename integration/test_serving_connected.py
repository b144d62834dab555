"""The serving plane on a real broker: two predictor replicas and the gateway running
in-process against the session's Tansu broker, a real MLflow server and the simulated
history's Feast store. A plain Kafka client (raw JSON and CloudEvents headers, none of
this codebase's helpers) gets its answer on the results topic; the gateway answers over
HTTP; a promotion while requests flow switches both replicas with no request lost."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI
from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from predictor.main import create_app as create_predictor
from predictor.settings import PredictorSettings

from mlops_contracts import (
    ModelPromoted,
    ModelTrained,
    PredictionErrorCode,
    PredictionMade,
    PredictorModelLoaded,
    dead_letter_topic,
    decode,
    encode,
    topic_for,
    topics_to_create,
)
from model_store import CHAMPION
from service_kit import ensure_topics

pytestmark = [pytest.mark.connected, pytest.mark.slow, pytest.mark.timeout(300)]

RESULTS = topic_for(PredictionMade).name
STATUS = topic_for(PredictorModelLoaded).name
DEAD = dead_letter_topic("predictions.requests")
REPLICAS = (1, 2)
TOKEN = "test-token-0123456789"


@asynccontextmanager
async def running(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
            yield client


async def collect(
    bootstrap: str, topic: str, into: list[Any], stop: asyncio.Event, *, raw: bool = False
) -> None:
    """Read ``topic`` from its start into ``into`` (the decoded events, or with ``raw`` the
    record values) until ``stop``."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    into.append(
                        record.value
                        if raw
                        else decode(record.value, record.headers, key=record.key).data
                    )
    finally:
        await consumer.stop()


def plain_request(request_id: str, customer_id: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A PredictionRequested as any Kafka client writes it: JSON value, ce_* headers."""
    now = datetime.now(UTC).isoformat()
    value = json.dumps(
        {"request_id": request_id, "customer_id": customer_id, "requested_at": now}
    ).encode()
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", request_id.encode()),
        ("ce_source", b"urn:example:plain-client"),
        ("ce_type", b"mlops.prediction.requested.v1"),
        ("content-type", b"application/json"),
    ]
    return value, headers


async def promote(parts: Any, model: str, bootstrap: str) -> ModelTrained:
    """Train a version, make it champion and broadcast ModelPromoted (the registry's job)."""
    trainer = parts.trainer(max_epochs=2)
    await trainer.accept(parts.request(model), event_id=str(uuid.uuid4()), correlation_id=None)
    await trainer.run_pending()
    trained: ModelTrained = parts.publisher.events(ModelTrained)[-1]
    parts.models.set_alias(model, CHAMPION, trained.model_version)
    event = ModelPromoted(
        model_name=model,
        model_version=trained.model_version,
        model_uri=trained.model_uri,
        sha256=trained.sha256,
        gate_metric="roc_auc",
        challenger_metric=trained.metrics["roc_auc"],
        min_margin=0.0,
        holdout_rows=100,
        promoted_at=datetime.now(UTC),
    )
    wire = encode(event, source="urn:test")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            wire.topic, wire.value, key=wire.key, headers=list(wire.headers)
        )
    finally:
        await producer.stop()
    return trained


async def test_plain_kafka_and_rest_clients_are_answered_and_a_promotion_loses_nothing(
    kafka_bootstrap: str, model_plane: Any, tmp_path: Path
) -> None:
    await ensure_topics(kafka_bootstrap, topics_to_create())
    model = f"churn-{uuid.uuid4().hex[:8]}"
    first = await promote(model_plane, model, kafka_bootstrap)
    store_dir = model_plane.history.store_settings.data_dir
    common = {
        "kafka_bootstrap_servers": kafka_bootstrap,
        "mlflow_tracking_uri": model_plane.models.tracking_uri,
    }
    predictors = [
        create_predictor(
            PredictorSettings(
                instance_id=f"predictor-{n}",
                data_dir=tmp_path / f"p{n}",
                feature_store_dir=store_dir,
                model_name=model,
                **common,
            )
        )
        for n in REPLICAS
    ]
    gateway = create_gateway(
        GatewaySettings(
            instance_id="gw-test",
            data_dir=tmp_path / "gw",
            api_token=TOKEN,
            deadline_ms=10_000,
            kafka_bootstrap_servers=kafka_bootstrap,
        )
    )
    results: list[Any] = []
    stop = asyncio.Event()
    customers = sorted({label.customer_id for label in model_plane.history.labels})[:50]
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(running(app, f"predictor-{i}"))
            for i, app in enumerate(predictors, 1)
        ]
        api = await stack.enter_async_context(running(gateway, "gateway"))
        for client in clients:
            ready = await client.get("/ready")
            assert ready.status_code == 200, ready.text
        reader = asyncio.create_task(collect(kafka_bootstrap, RESULTS, results, stop))
        dead: list[bytes | None] = []
        dead_reader = asyncio.create_task(collect(kafka_bootstrap, DEAD, dead, stop, raw=True))
        statuses_seen: list[Any] = []
        status_reader = asyncio.create_task(collect(kafka_bootstrap, STATUS, statuses_seen, stop))

        # 1. A plain Kafka client.
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        sent: list[str] = []
        try:
            for customer in customers[:10]:
                request_id = f"plain-{uuid.uuid4().hex[:10]}"
                value, headers = plain_request(request_id, customer)
                await producer.send_and_wait(
                    "predictions.requests", value, key=customer.encode(), headers=headers
                )
                sent.append(request_id)
            # Invalid, but it says whom to answer: answered with invalid_request.
            value, headers = plain_request("bad-body-1", customers[0])
            broken = json.loads(value) | {"features": "not a mapping"}
            await producer.send_and_wait(
                "predictions.requests", json.dumps(broken).encode(), headers=headers
            )
            # Not even JSON: dead-lettered with the reason.
            await producer.send_and_wait("predictions.requests", b"\x00garbage", headers=headers)
        finally:
            await producer.stop()

        for _ in range(100):
            answered_now = {r.request_id for r in results if isinstance(r, PredictionMade)}
            if set(sent) <= answered_now:
                break
            await asyncio.sleep(0.1)

        # 2. REST, one and a batch; a wrong token; an invalid body.
        one = await api.post(
            "/v1/predict",
            json={"customer_id": customers[0]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert one.status_code == 200, one.text
        # Concurrent callers: the replies come back in batches; each reaches its caller.
        burst = await asyncio.gather(
            *(
                api.post(
                    "/v1/predict",
                    json={"customer_id": customer},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                for customer in customers[:40]
            )
        )
        assert [r.status_code for r in burst] == [200] * 40, [r.text for r in burst][:3]
        assert [r.json()["customer_id"] for r in burst] == customers[:40]

        # 3. A promotion while REST traffic flows: every request answered, both replicas roll.
        async def traffic(seconds: float) -> list[httpx.Response]:
            responses = []
            deadline = asyncio.get_running_loop().time() + seconds
            while asyncio.get_running_loop().time() < deadline:
                responses.append(
                    await api.post(
                        "/v1/predict",
                        json={"customer_id": customers[len(responses) % len(customers)]},
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                )
            return responses

        flowing = asyncio.create_task(traffic(12.0))
        await asyncio.sleep(1.0)
        second = await promote(model_plane, model, kafka_bootstrap)
        responses = await flowing
        await asyncio.sleep(1.0)
        stop.set()
        await reader
        await status_reader
        await dead_reader

    versions = [r.json().get("model_version") for r in responses]
    assert all(r.status_code == 200 for r in responses), {r.status_code for r in responses}
    assert versions[0] == first.model_version
    assert versions[-1] == second.model_version
    answered = {r.request_id for r in results if isinstance(r, PredictionMade)}
    assert set(sent) <= answered  # the plain client's requests, on the results topic
    [bad] = [r for r in results if isinstance(r, PredictionMade) and r.request_id == "bad-body-1"]
    assert bad.error_code is PredictionErrorCode.INVALID_REQUEST
    assert "features" in (bad.error_reason or "")
    assert any(b"garbage" in (value or b"") for value in dead)
    rolled = {
        event.replica_id
        for event in statuses_seen
        if isinstance(event, PredictorModelLoaded)
        and event.model_name == model
        and event.model_version == second.model_version
    }
    assert rolled == {"predictor-1", "predictor-2"}  # every replica, via the broadcast
