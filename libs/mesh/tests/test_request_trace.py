"""The trace of unanswered requests, on the real broker: it says on which topics (and where)
each request was seen, so a lost answer is told apart from a lost request."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mesh.request_trace import trace_requests
from mlops_contracts import (
    PredictionMade,
    PredictionRequested,
    PredictionStatus,
    encode,
    reply_topic_spec,
    topic_for,
)
from service_kit import ensure_topics

pytestmark = pytest.mark.connected


async def publish(bootstrap: str, *records: tuple[str, object]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, event in records:
            record = encode(event, source="urn:test")  # type: ignore[arg-type]
            await producer.send_and_wait(
                topic, record.value, key=record.key, headers=list(record.headers)
            )
    finally:
        await producer.stop()


def test_a_trace_says_where_each_request_and_its_answer_were_seen(kafka_bootstrap: str) -> None:
    replies = reply_topic_spec(f"trace-{uuid.uuid4().hex[:6]}")
    answered, unanswered, unknown = (f"{name}-{uuid.uuid4().hex[:8]}" for name in "abc")
    now = datetime.now(UTC)

    def request(request_id: str) -> PredictionRequested:
        return PredictionRequested(
            request_id=request_id, customer_id="C-000001", reply_to=replies.name, requested_at=now
        )

    answer = PredictionMade(
        request_id=answered,
        customer_id="C-000001",
        status=PredictionStatus.OK,
        score=0.5,
        label=False,
        model_name="churn",
        model_version=1,
        latency_ms=1.0,
        replica_id="predictor-1",
        predicted_at=now,
    )
    # Topics of this test's own (the catalogue's are shared with other tests' consumers).
    suffix = uuid.uuid4().hex[:6]
    requests_topic, results_topic = f"trace.requests.{suffix}", f"trace.results.{suffix}"
    topics = [
        replace(topic_for(PredictionRequested), name=requests_topic),
        replace(topic_for(PredictionMade), name=results_topic),
        replies,
    ]

    async def scenario() -> dict[str, str]:
        await ensure_topics(kafka_bootstrap, topics)
        await publish(
            kafka_bootstrap,
            (requests_topic, request(answered)),
            (requests_topic, request(unanswered)),
            (results_topic, answer),
        )
        return await trace_requests(
            kafka_bootstrap,
            [answered, unanswered, unknown],
            replies.name,
            requests_topic=requests_topic,
            results_topic=results_topic,
        )

    traces = asyncio.run(scenario())

    assert traces[unknown] == "nowhere"
    assert traces[unanswered].startswith(f"{requests_topic}[")
    assert results_topic not in traces[unanswered]
    places = traces[answered].split(", ")  # in the order the request and answer pass them
    assert [place.split("[")[0] for place in places] == [requests_topic, results_topic]
    assert replies.name not in traces[answered]
