"""The ingest app end to end through its public interfaces: HTTP and the raw-records topic,
on the in-memory Kafka (component) and, unchanged, on the real broker (connected)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from ingest.main import create_app
from ingest.settings import IngestSettings

from mlops_contracts import WireRecord, topics_to_create
from service_kit import ensure_topics
from service_kit.in_memory import InMemoryKafka
from service_kit.testing import TopicTap, eventually

TOKEN = "test-token-0123456789"
MODES = ["memory", pytest.param("real", marks=pytest.mark.connected)]


class Captured:
    """What ingest published, read from the topics."""

    def __init__(self, tap: TopicTap) -> None:
        self.tap = tap

    @property
    def activity(self) -> list[Any]:
        return self.tap.events("customer.activity")

    @property
    def labels(self) -> list[Any]:
        return self.tap.events("customer.labels")

    @property
    def dead(self) -> list[dict[str, str]]:
        return [
            {**self.tap.headers(record), "key": (record.key or b"").decode()}
            for record in self.tap.records("customer.records.raw.dlq")
        ]


@pytest.fixture(params=MODES)
async def ingest_app(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI, Captured]]:
    real = request.param == "real"
    bootstrap = request.getfixturevalue("kafka_bootstrap") if real else "127.0.0.1:1"
    settings = IngestSettings(
        kafka_bootstrap_servers=bootstrap,
        data_dir=tmp_path,
        instance_id="t",
        api_token=TOKEN,
        max_batch=5,
        max_body_bytes=4096,
    )
    memory = None if real else InMemoryKafka()
    if real:
        await ensure_topics(bootstrap, topics_to_create())
    app = create_app(settings, memory)
    topics = ["customer.activity", "customer.labels", "customer.records.raw.dlq"]
    tap = TopicTap(topics, memory=memory, bootstrap=bootstrap if real else None)
    async with tap, app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield client, app, Captured(tap)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def label(record_id: str, customer_id: str) -> dict[str, Any]:
    return {
        "kind": "label",
        "record_id": record_id,
        "customer_id": customer_id,
        "churned": False,
        "observed_at": datetime.now(UTC).isoformat(),
    }


async def test_batch_is_published_keyed_by_customer_and_resend_adds_nothing(
    ingest_app: Any, activity: Any
) -> None:
    client, _, captured = ingest_app
    customer = f"C-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).isoformat()
    batch = {
        "records": [
            activity(record_id=f"{customer}-a", customer_id=customer, observed_at=now),
            label(f"{customer}-l", customer),
        ]
    }
    first = await client.post("/v1/records", json=batch, headers=auth())
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 2
    again = await client.post("/v1/records", json=batch, headers=auth())
    assert again.json()["duplicates"] == 2

    def mine(events: list[Any]) -> list[str]:  # a real broker keeps earlier tests' records
        return [e.record_id for e in events if e.customer_id == customer]

    await eventually(lambda: mine(captured.activity) and mine(captured.labels))
    await asyncio.sleep(0.5)  # nothing more arrives for the resend
    assert mine(captured.activity) == [f"{customer}-a"]
    assert mine(captured.labels) == [f"{customer}-l"]


async def test_mixed_batch_is_422_with_field_errors_and_valid_records_accepted(
    ingest_app: Any, activity: Any
) -> None:
    client, _, captured = ingest_app
    customer = f"C-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).isoformat()
    response = await client.post(
        "/v1/records",
        json={
            "records": [
                activity(record_id=f"{customer}-1", customer_id=customer, observed_at=now),
                activity(record_id=f"{customer}-2", monthly_charges=-1, extra=1),
            ]
        },
        headers=auth(),
    )
    assert response.status_code == 422
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected"]
    assert {e["field"] for e in body["results"][1]["errors"]} == {"monthly_charges", "extra"}
    await eventually(
        lambda: (
            [e.record_id for e in captured.activity if e.customer_id == customer]
            == [f"{customer}-1"]
        )
    )


async def test_auth_and_limits(ingest_app: Any, activity: Any) -> None:
    client, _, _ = ingest_app
    one = {"records": [activity()]}
    assert (await client.post("/v1/records", json=one)).status_code == 401
    wrong = await client.post("/v1/records", json=one, headers=auth("nope"))
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    too_many = await client.post("/v1/records", json={"records": [{}] * 6}, headers=auth())
    assert too_many.status_code == 413
    assert "exceeds the limit of 5" in too_many.json()["detail"]
    huge = await client.post(
        "/v1/records", content=b'{"records": ["' + b"x" * 5000 + b'"]}', headers=auth()
    )
    assert huge.status_code == 413

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the streamed limit
        yield b'{"records": ["'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"]}'

    streamed = await client.post("/v1/records", content=chunked(), headers=auth())
    assert streamed.status_code == 413
    assert "exceeds the limit of 4096 bytes" in streamed.json()["detail"]
    not_json = await client.post("/v1/records", content=b"{nope", headers=auth())
    assert not_json.status_code == 400
    wrong_shape = await client.post("/v1/records", json=[1], headers=auth())
    assert wrong_shape.status_code == 400


async def test_raw_topic_bad_record_goes_to_dlq_with_reason_good_one_is_published(
    ingest_app: Any, activity: Any
) -> None:
    _, app, captured = ingest_app
    customer = f"C-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).isoformat()
    bad = activity(record_id=f"{customer}-bad", customer_id=customer, tenure_months=-5)
    good = activity(record_id=f"{customer}-ok", customer_id=customer, observed_at=now)
    await app.state.runtime.kafka.send(
        [
            WireRecord("customer.records.raw", customer.encode(), value, ())
            for value in (json.dumps(bad).encode(), b"not json at all", json.dumps(good).encode())
        ]
    )

    def mine() -> list[dict[str, str]]:  # a real broker keeps earlier tests' dead letters
        return [h for h in captured.dead if h.get("key") == customer]

    await eventually(
        lambda: customer in [e.customer_id for e in captured.activity] and len(mine()) >= 2
    )
    reasons = [headers["dlq_error_message"] for headers in mine()]
    assert any("tenure_months" in reason for reason in reasons), reasons
    assert any("not usable JSON" in reason for reason in reasons), reasons
