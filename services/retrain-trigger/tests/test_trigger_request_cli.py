"""``python -m retrain_trigger.request`` (the CronJob's command) against a real broker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from retrain_trigger.request import main

from mlops_contracts import TrainingReason, TrainingRequested, decode, topic_for
from service_kit import ensure_topics

TOPIC = topic_for(TrainingRequested)


async def find(bootstrap: str, key: str) -> TrainingRequested:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(TOPIC.name, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        async with asyncio.timeout(20):
            async for record in consumer:
                event = decode(record.value, record.headers, key=record.key).data
                if isinstance(event, TrainingRequested) and event.idempotency_key == key:
                    return event
    finally:
        await consumer.stop()
    raise AssertionError("not found")


@pytest.mark.connected
def test_it_publishes_one_scheduled_request_with_a_window_that_leaves_a_holdout(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(ensure_topics(kafka_bootstrap, [TOPIC]))
    monkeypatch.setenv("RETRAIN_TRIGGER_KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    key = f"retrain-schedule-{uuid.uuid4().hex[:8]}"
    status = main(["--idempotency-key", key, "--window-days", "20", "--holdout-days", "3"])
    assert status == 0
    assert f"TrainingRequested {key} (schedule" in capsys.readouterr().out
    event = asyncio.run(find(kafka_bootstrap, key))
    assert event.reason is TrainingReason.SCHEDULE
    assert event.model_name == "churn"
    assert event.data_window_end - event.data_window_start == timedelta(days=20)
    assert event.requested_at - event.data_window_end == timedelta(days=3)


def test_a_window_that_cannot_exist_is_refused_before_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--idempotency-key", "k", "--window-days", "-1"]) == 2
    assert "invalid request or settings" in capsys.readouterr().err
