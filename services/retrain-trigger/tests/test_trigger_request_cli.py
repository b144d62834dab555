"""``python -m retrain_trigger.request`` (the CronJob's command) against a real broker and the
service's decision ledger (a SQLite file here)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from retrain_trigger.request import main

from mlops_contracts import (
    ProjectApplied,
    TrainingReason,
    TrainingRequested,
    TrainingSuppressed,
    decode,
    topic_for,
)
from service_kit import ensure_topics
from service_kit.testing import apply_projects, project_applied

TOPIC = topic_for(TrainingRequested)


async def find(bootstrap: str, key: str) -> list[TrainingRequested]:
    """Every TrainingRequested with ``key`` on the topic (waits for the first)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[TrainingRequested] = []
    try:
        partition = TopicPartition(TOPIC.name, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        async with asyncio.timeout(20):
            while not found:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        event = decode(record.value, record.headers, key=record.key).data
                        if isinstance(event, TrainingRequested) and event.idempotency_key == key:
                            found.append(event)
    finally:
        await consumer.stop()
    return found


@pytest.mark.connected
def test_it_publishes_one_scheduled_request_with_a_window_that_leaves_a_holdout(
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    topics = [TOPIC, topic_for(TrainingSuppressed), topic_for(ProjectApplied)]
    asyncio.run(ensure_topics(kafka_bootstrap, topics))
    monkeypatch.setenv("RETRAIN_TRIGGER_KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("RETRAIN_TRIGGER_DATA_DIR", str(tmp_path))
    model = f"scheduled-{uuid.uuid4().hex[:8]}"
    key = f"retrain-schedule-{model}"
    args = [
        "--model",
        model,
        "--idempotency-key",
        key,
        "--window-days",
        "20",
        "--holdout-days",
        "3",
    ]
    assert main(args) == 2  # no project declares the model yet: nothing requested
    assert f"no model project named '{model}'" in capsys.readouterr().err
    asyncio.run(apply_projects(project_applied(model), bootstrap=kafka_bootstrap))
    assert main(args) == 0
    assert f"TrainingRequested {key} (schedule" in capsys.readouterr().out
    # The job retried (backoffLimit): the recorded decision, no second request.
    assert main(args) == 0
    [event] = asyncio.run(find(kafka_bootstrap, key))
    assert event.reason is TrainingReason.SCHEDULE
    assert event.model_name == model
    assert event.requested_by == "retrain-trigger.request"
    assert event.data_window_end - event.data_window_start == timedelta(days=20)
    assert event.requested_at - event.data_window_end == timedelta(days=3)
    # Another request while that training is in flight: held back, unless forced.
    other = ["--model", model, "--idempotency-key", f"{key}-b", "--reason", "manual"]
    assert main(other) == 3
    assert "training_in_flight" in capsys.readouterr().err
    assert main([*other, "--force"]) == 0  # the same key, forced: judged anew
    [forced] = asyncio.run(find(kafka_bootstrap, f"{key}-b"))
    assert forced.reason is TrainingReason.MANUAL
    assert (tmp_path / "retrain-trigger.db").is_file()  # the service's own ledger


def test_a_window_that_cannot_exist_is_refused_before_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--idempotency-key", "k", "--window-days", "-1"]) == 2
    assert "invalid request or settings" in capsys.readouterr().err
