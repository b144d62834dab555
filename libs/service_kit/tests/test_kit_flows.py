"""The dead-letter and replay guarantees, through the kit's subscriptions: on the
in-memory Kafka (component) and, unchanged, against the real broker (connected)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic_settings import SettingsConfigDict

from mlops_contracts import Envelope, LabelObserved, TopicSpec, WireRecord, dead_letter_topic
from service_kit import (
    Outgoing,
    RetryPolicy,
    ServiceRuntime,
    ServiceSettings,
    batches,
    each,
    ensure_topics,
    offset_commits,
)
from service_kit.dead_letters import ConsumedRecord
from service_kit.in_memory import InMemoryKafka
from service_kit.testing import eventually


class FlowSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FLOW_TEST_", extra="forbid", frozen=True)
    service_name: str = "flow-test"


MODES = ["memory", pytest.param("real", marks=pytest.mark.connected)]
MEMORY = "127.0.0.1:1"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bootstrap(mode: str, request: pytest.FixtureRequest) -> str:
    if mode == "real":
        return str(request.getfixturevalue("kafka_bootstrap"))
    return MEMORY


def topic_spec() -> TopicSpec:
    return TopicSpec(
        name=f"test.labels.{uuid.uuid4().hex[:8]}",
        partitions=1,
        key_field="customer_id",
        event_types=(LabelObserved,),
        retention="compact",
        description="a topic of its own per test",
    )


def label(customer_id: str) -> LabelObserved:
    return LabelObserved(
        record_id=f"r-{customer_id}",
        customer_id=customer_id,
        churned=False,
        observed_at=datetime.now(UTC),
    )


@asynccontextmanager
async def running(runtime: ServiceRuntime, mode: str, topic: TopicSpec) -> AsyncIterator[None]:
    """Run the runtime: the same calls on the in-memory Kafka and on the real one."""
    if mode == "real":
        dead_letters = dataclasses.replace(topic, name=dead_letter_topic(topic.name))
        await ensure_topics(runtime.settings.kafka_bootstrap_servers, [topic, dead_letters])
    await runtime.connect()
    await runtime.start_consuming()
    try:
        yield
    finally:
        await runtime.stop_consuming()
        await runtime.close()


def runtime_for(
    tmp_path: Path,
    bootstrap: str,
    database: str = "state.db",
    url: str | None = None,
    memory: InMemoryKafka | None = None,
) -> ServiceRuntime:
    settings = FlowSettings(
        kafka_bootstrap_servers=bootstrap,
        data_dir=tmp_path,
        database_url=url or f"sqlite:///{tmp_path / database}",
        instance_id="t",
    )
    # On the in-memory Kafka (``memory``: shared by two runtimes) nothing is ever dialled;
    # the real one is the session's broker.
    if bootstrap != MEMORY:
        return ServiceRuntime(settings)
    return ServiceRuntime(settings, memory or InMemoryKafka())


def handled_by(handler: Callable[..., Any]) -> Callable[[None], Any]:
    """A subscription's handler, for a test without components."""
    return lambda _components: handler


def read_dead_letters(
    runtime: ServiceRuntime, topic: TopicSpec, into: list[tuple[bytes, dict[str, Any]]]
) -> None:
    """Subscribe a reader of ``topic``'s dead letters that keeps each (value, headers)."""

    async def keep(envelope: Envelope[Any]) -> None:
        into.append(envelope.data)

    runtime.subscribe(
        each(
            dataclasses.replace(topic, name=dead_letter_topic(topic.name)),
            handled_by(keep),
            group=f"dlq-{uuid.uuid4().hex[:6]}",
            decoder=as_raw,
            idempotent=False,
        ),
        None,
    )


def as_raw(record: ConsumedRecord, topic: TopicSpec) -> Envelope[Any]:
    """A decoder that keeps the record as it is (a dead-letter topic's reader)."""
    return Envelope(
        id=f"{record.topic}/{record.offset}",
        source="test",
        type="raw",
        time=None,
        subject=None,
        correlation_id=None,
        data=(record.value, {n: (v or b"").decode("utf-8", "replace") for n, v in record.headers}),
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.connected)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The service state database: real SQLite, or real PostgreSQL."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'state.db'}"


async def test_poison_record_lands_in_dlq_and_next_good_record_is_processed(
    mode: str, bootstrap: str, tmp_path: Path
) -> None:
    topic = topic_spec()
    runtime = runtime_for(tmp_path, bootstrap)
    handled: list[str] = []
    dead: list[tuple[bytes, dict[str, Any]]] = []

    async def handle(envelope: Envelope[LabelObserved]) -> None:
        handled.append(envelope.data.customer_id)

    runtime.subscribe(each(topic, handled_by(handle), group=f"g-{uuid.uuid4().hex[:6]}"), None)
    read_dead_letters(runtime, topic, dead)

    async with running(runtime, mode, topic):
        await runtime.kafka.send(
            [WireRecord(topic.name, b"c-1", b"{not json", (("ce_type", b"nonsense"),))]
        )
        await runtime.publisher.publish(label("c-2"), topic=topic.name)
        await eventually(lambda: handled == ["c-2"] and len(dead) == 1)

    body, headers = dead[0]
    assert body == b"{not json"
    assert headers["dlq_original_topic"] == topic.name
    assert headers["dlq_original_offset"] == "0"
    assert headers["dlq_error_type"] == "missing_attribute"
    assert "ce_specversion" in headers["dlq_error_message"]
    assert handled == ["c-2"]


async def test_replayed_event_is_processed_once_even_after_restart(
    mode: str, bootstrap: str, tmp_path: Path, state_url: str
) -> None:
    topic = topic_spec()
    group = f"g-{uuid.uuid4().hex[:6]}"
    handled: list[str] = []

    async def handle(envelope: Envelope[LabelObserved]) -> None:
        handled.append(envelope.id)

    memory = InMemoryKafka()
    first = runtime_for(tmp_path, bootstrap, url=state_url, memory=memory)
    first.subscribe(each(topic, handled_by(handle), group=group), None)
    async with running(first, mode, topic):
        await first.publisher.publish(label("c-1"), topic=topic.name, event_id="evt-A")
        await first.publisher.publish(label("c-1"), topic=topic.name, event_id="evt-A")
        await first.publisher.publish(label("c-3"), topic=topic.name, event_id="evt-B")
        await eventually(lambda: "evt-B" in handled)
    assert handled == ["evt-A", "evt-B"]

    # A new process with the same durable state sees evt-A redelivered: still once.
    second = runtime_for(tmp_path, bootstrap, url=state_url, memory=memory)
    second.subscribe(each(topic, handled_by(handle), group=group), None)
    async with running(second, mode, topic):
        await second.publisher.publish(label("c-1"), topic=topic.name, event_id="evt-A")
        await second.publisher.publish(label("c-4"), topic=topic.name, event_id="evt-C")
        await eventually(lambda: "evt-C" in handled)
    assert handled == ["evt-A", "evt-B", "evt-C"]


async def test_publish_all_sends_each_event_to_its_topic_with_its_correlation_id(
    mode: str, bootstrap: str, tmp_path: Path
) -> None:
    catalogue, other = topic_spec(), topic_spec()
    received: list[tuple[str, str, str | None]] = []

    def collect(topic: TopicSpec) -> Callable[[Envelope[LabelObserved]], Any]:
        async def handle(envelope: Envelope[LabelObserved]) -> None:
            received.append((topic.name, envelope.data.customer_id, envelope.correlation_id))

        return handle

    runtime = runtime_for(tmp_path, bootstrap)
    for topic in (catalogue, other):
        runtime.subscribe(
            each(topic, handled_by(collect(topic)), group=f"g-{uuid.uuid4().hex[:6]}"), None
        )
    if mode == "real":
        await ensure_topics(bootstrap, [other])
    async with running(runtime, mode, catalogue):
        await runtime.publisher.publish_all(
            [
                Outgoing(label("c-1"), topic=catalogue.name, correlation_id="k-1"),
                Outgoing(label("c-2"), topic=other.name),
                Outgoing(label("c-3"), topic=catalogue.name, correlation_id="k-3"),
            ]
        )
        await eventually(lambda: len(received) == 3)
    assert sorted(received, key=str) == sorted(
        [
            (catalogue.name, "c-1", "k-1"),
            (catalogue.name, "c-3", "k-3"),
            (other.name, "c-2", None),
        ],
        key=str,
    )


# -- Real broker only: commits, redelivery and drain against the real thing. --


def real_runtime(tmp_path: Path, bootstrap: str) -> ServiceRuntime:
    return runtime_for(tmp_path, bootstrap, database=f"{uuid.uuid4().hex}.db")


async def only_marker_arrives(
    tmp_path: Path, bootstrap: str, topic: TopicSpec, group: str
) -> list[str]:
    """Start a fresh process in ``group`` (fresh dedupe store), publish a marker and return
    what it consumed: anything before the marker means an offset was not committed."""
    seen: list[str] = []

    async def handle(envelope: Envelope[LabelObserved]) -> None:
        seen.append(envelope.data.customer_id)

    runtime = real_runtime(tmp_path, bootstrap)
    runtime.subscribe(each(topic, handled_by(handle), group=group), None)
    async with running(runtime, "real", topic):
        await runtime.publisher.publish(label("marker"), topic=topic.name)
        await eventually(lambda: "marker" in seen)
    return seen


@pytest.mark.connected
@pytest.mark.parametrize("max_batch", [1, 50])
async def test_transient_failures_are_redelivered_then_committed(
    kafka_bootstrap: str, tmp_path: Path, max_batch: int
) -> None:
    topic, group = topic_spec(), f"g-{uuid.uuid4().hex[:6]}"
    attempts: list[list[str]] = []

    async def flaky(envelopes: Sequence[Envelope[LabelObserved]]) -> None:
        attempts.append([envelope.data.customer_id for envelope in envelopes])
        if len(attempts) <= 3:  # more failures than one round of in-place retries
            raise ConnectionError("downstream not ready")

    runtime = real_runtime(tmp_path, kafka_bootstrap)
    customers = ["c-1"] if max_batch == 1 else ["c-1", "c-2", "c-3"]
    for customer in customers:  # published before consuming starts: one batch
        await runtime_publish_before_start(kafka_bootstrap, topic, label(customer))
    runtime.subscribe(
        batches(
            topic,
            handled_by(flaky),
            group=group,
            retry=RetryPolicy(2, 0.01, 0.01),
            max_batch=max_batch,
        ),
        None,
    )
    async with running(runtime, "real", topic):
        await eventually(lambda: len(attempts) >= 4 and attempts[-1][-1] == customers[-1])
        await asyncio.sleep(0.5)
    assert attempts[0] == customers  # all published before consuming: one batch
    handled = [customer for batch in attempts[3:] for customer in batch]
    assert handled == customers  # after 2 in place + a seek back + 1 more failure
    assert await only_marker_arrives(tmp_path, kafka_bootstrap, topic, group) == ["marker"]


async def runtime_publish_before_start(bootstrap: str, topic: TopicSpec, event: Any) -> None:
    from aiokafka import AIOKafkaProducer

    from mlops_contracts import encode

    dead_letters = dataclasses.replace(topic, name=dead_letter_topic(topic.name))
    await ensure_topics(bootstrap, [topic, dead_letters])
    record = encode(event, source="urn:test")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic.name, record.value, key=record.key, headers=list(record.headers)
        )
    finally:
        await producer.stop()


@pytest.mark.connected
@pytest.mark.parametrize("max_batch", [1, 50])
async def test_stop_drains_the_handler_in_flight_and_commits_it(
    kafka_bootstrap: str, tmp_path: Path, max_batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch consumer commits at most once per interval: longer than the test here, so
    # only the commit at stop can save these records from redelivery.
    monkeypatch.setattr(offset_commits, "COMMIT_INTERVAL_MS", 600_000)
    topic, group = topic_spec(), f"g-{uuid.uuid4().hex[:6]}"
    started, finished = asyncio.Event(), []

    async def slow(envelopes: Sequence[Envelope[LabelObserved]]) -> None:
        started.set()
        await asyncio.sleep(1.5)
        finished.extend(envelope.data.customer_id for envelope in envelopes)

    runtime = real_runtime(tmp_path, kafka_bootstrap)
    runtime.subscribe(batches(topic, handled_by(slow), group=group, max_batch=max_batch), None)
    async with running(runtime, "real", topic):
        await runtime.publisher.publish(label("c-1"), topic=topic.name)
        await asyncio.wait_for(started.wait(), 20)
    # Leaving the block stopped the runtime while the handler was sleeping.
    assert finished == ["c-1"]
    assert await only_marker_arrives(tmp_path, kafka_bootstrap, topic, group) == ["marker"]


@pytest.mark.connected
async def test_a_batch_consumer_commits_at_most_once_per_interval_and_catches_up_when_idle(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 300 ms between commits: a commit per batch (records published 20 ms apart, fetched
    # every 10 ms) would be several times the bound below, even on a slow machine.
    monkeypatch.setattr(offset_commits, "COMMIT_INTERVAL_MS", 300)
    topic, group = topic_spec(), f"g-{uuid.uuid4().hex[:6]}"
    commits: list[float] = []
    commit = AIOKafkaConsumer.commit

    async def counted(self: AIOKafkaConsumer, offsets: Any = None) -> None:
        commits.append(time.monotonic())
        await commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted)
    sizes: list[int] = []

    async def handle(envelopes: Sequence[Envelope[LabelObserved]]) -> None:
        sizes.append(len(envelopes))

    runtime = real_runtime(tmp_path, kafka_bootstrap)
    runtime.subscribe(batches(topic, handled_by(handle), group=group, request_path=True), None)
    async with running(runtime, "real", topic):
        began = time.monotonic()
        for n in range(60):  # one at a time: a batch each, mostly
            await runtime.publisher.publish(label(f"c-{n}"), topic=topic.name)
            await asyncio.sleep(0.02)
        await eventually(lambda: sum(sizes) == 60)
        ended = time.monotonic()
        # Idle from here: its last offsets go with its next poll once the interval is up.
        assert await committed_offset(kafka_bootstrap, group, topic, waiting_for=60) == 60
    at_most = (ended - began) / (offset_commits.COMMIT_INTERVAL_MS / 1000) + 2
    assert len(sizes) > 2 * at_most  # a commit per batch would fail the next line
    assert len([at for at in commits if began <= at <= ended]) <= at_most


async def committed_offset(bootstrap: str, group: str, topic: TopicSpec, waiting_for: int) -> int:
    """The offset ``group`` has committed on the topic's partition 0, polled for up to 5 s
    until it reaches ``waiting_for`` (read by a consumer that joins no group)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await reader.start()
    try:
        deadline = time.monotonic() + 5
        while True:
            offset = await reader.committed(TopicPartition(topic.name, 0)) or 0
            if offset >= waiting_for or time.monotonic() > deadline:
                return int(offset)
            await asyncio.sleep(0.05)
    finally:
        await reader.stop()


@pytest.mark.connected
async def test_record_with_a_binary_header_reaches_the_dlq(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    from aiokafka import AIOKafkaProducer

    topic = topic_spec()
    handled: list[str] = []
    dead: list[tuple[bytes, dict[str, Any]]] = []

    async def handle(envelope: Envelope[LabelObserved]) -> None:
        handled.append(envelope.data.customer_id)

    runtime = real_runtime(tmp_path, kafka_bootstrap)
    runtime.subscribe(each(topic, handled_by(handle), group=f"g-{uuid.uuid4().hex[:6]}"), None)
    read_dead_letters(runtime, topic, dead)

    async with running(runtime, "real", topic):
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(
                topic.name, b"{}", key=b"c-0", headers=[("ce_id", b"\xff\xfe"), ("x", b"")]
            )
        finally:
            await producer.stop()
        await runtime.publisher.publish(label("c-2"), topic=topic.name)
        await eventually(lambda: handled == ["c-2"] and len(dead) == 1)
    assert dead[0][1]["dlq_error_type"] == "invalid_attribute"


async def test_a_consumed_event_logs_nothing_at_info_and_hops_to_no_worker_thread(
    mode: str,
    bootstrap: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path: no log line per record at INFO, and nothing in the handler chain run
    in a worker thread (a thread hop per batch)."""
    topic = topic_spec()
    runtime = runtime_for(tmp_path, bootstrap)
    handled: list[str] = []
    hops: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counting_run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await run_sync(func, *args, **kwargs)

    async def handle(envelopes: Sequence[Envelope[LabelObserved]]) -> None:
        handled.extend(e.data.customer_id for e in envelopes)

    runtime.subscribe(batches(topic, handled_by(handle), group=f"g-{uuid.uuid4().hex[:6]}"), None)
    async with running(runtime, mode, topic):
        caplog.set_level(logging.INFO)
        monkeypatch.setattr(anyio.to_thread, "run_sync", counting_run_sync)
        await runtime.publisher.publish(label("c-1"), topic=topic.name)
        await eventually(lambda: handled == ["c-1"])
        await asyncio.sleep(0.1)
        during = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
        monkeypatch.undo()

    assert hops == []
    assert during == []
