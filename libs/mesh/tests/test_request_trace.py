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


NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def made(request_id: str) -> PredictionMade:
    return PredictionMade(
        request_id=request_id,
        customer_id="C-000001",
        status=PredictionStatus.OK,
        score=0.5,
        label=False,
        model_name="churn",
        model_version=1,
        latency_ms=1.0,
        replica_id="predictor-1",
        predicted_at=NOW,
    )


def test_a_trace_says_where_each_request_and_its_answer_were_seen(kafka_bootstrap: str) -> None:
    replies = reply_topic_spec(f"trace-{uuid.uuid4().hex[:6]}")
    answered, unanswered, unknown = (f"{name}-{uuid.uuid4().hex[:8]}" for name in "abc")
    now = datetime.now(UTC)

    def request(request_id: str) -> PredictionRequested:
        return PredictionRequested(
            request_id=request_id, customer_id="C-000001", reply_to=replies.name, requested_at=now
        )

    answer = made(answered)
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


def test_a_recount_finds_answers_the_live_reader_missed(kafka_bootstrap: str) -> None:
    from mesh.demo import DemoRun, recount_answers

    replies = reply_topic_spec(f"recount-{uuid.uuid4().hex[:6]}")
    run = DemoRun(started=NOW, champion_before=1)
    run.sent = {"seen": 0.0, "missed": 0.0, "lost": 0.0}
    run.answers["seen"] = 1  # the live reader counted this one only

    async def scenario() -> None:
        await ensure_topics(kafka_bootstrap, [replies])
        await publish(kafka_bootstrap, (replies.name, made("seen")), (replies.name, made("missed")))
        await recount_answers(kafka_bootstrap, run, replies.name)

    asyncio.run(scenario())

    assert run.missed_by_reader == ["missed"]
    assert run.unanswered() == ["lost"]  # never answered: still missing after the recount
    assert run.answers["seen"] == 1  # counted once, not once per read
