"""``POST /v1/models/{name}/predict``: a model project's prediction, over Kafka, with the
entity it names; a model no project declares is a 404, and nothing is published."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
from gateway.main import create_app
from gateway.settings import GatewaySettings

from mlops_contracts import (
    PredictionMade,
    PredictionRequested,
    PredictionStatus,
    encode,
    topic_for,
)
from service_kit.in_memory import InMemoryKafka
from service_kit.testing import TopicTap, apply_projects, eventually, project_applied

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_a_model_project_is_scored_by_name_and_an_unknown_one_is_a_404(
    tmp_path: Path,
) -> None:
    settings = GatewaySettings(data_dir=tmp_path, instance_id="gw-1", api_token=TOKEN)
    kafka = InMemoryKafka()
    await apply_projects(project_applied("income"), memory=kafka)
    app = create_app(settings, kafka)
    requests_topic = topic_for(PredictionRequested).name
    tap = TopicTap([requests_topic], memory=kafka)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
    async with app.router.lifespan_context(app), client:
        unknown = await client.post(
            "/v1/models/9KKGy/predict", json={"entity_id": "P1"}, headers=AUTH
        )
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == (
            "no model project named '9KKGy' (applied: income); apply one with `mlops project apply`"
        )
        assert tap.records(requests_topic) == []
        bad_name = await client.post("/v1/models/no%20spaces/predict", json={}, headers=AUTH)
        assert bad_name.status_code == 422

        async def predictor() -> None:  # answers the one request, as a replica would
            await eventually(lambda: tap.records(requests_topic))
            request: PredictionRequested = tap.events(requests_topic)[0]
            answer = PredictionMade(
                request_id=request.request_id,
                customer_id=request.customer_id,
                status=PredictionStatus.OK,
                score=0.8,
                label=True,
                model_name=request.model_name,
                model_version=3,
                latency_ms=1.0,
                replica_id="predictor-1",
                predicted_at=datetime.now(UTC),
            )
            wire = encode(answer, source="test", event_id="answer-1")
            assert request.reply_to is not None
            kafka.append(request.reply_to, wire.value, key=wire.key, headers=wire.headers)

        answering = asyncio.create_task(predictor())
        scored = await client.post(
            "/v1/models/income/predict",
            json={"entity_id": "P00042", "features": {"age": 37}},
            headers=AUTH,
        )
        await answering
    assert scored.status_code == 200, scored.text
    body = scored.json()
    assert (body["entity_id"], body["model_name"], body["model_version"]) == ("P00042", "income", 3)
    assert "customer_id" not in body
    [sent] = tap.events(requests_topic)
    assert (sent.model_name, sent.customer_id, sent.features) == ("income", "P00042", {"age": 37})
