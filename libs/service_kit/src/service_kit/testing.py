"""What a service's component tests share: :class:`TopicTap`, which reads what the service
published, the same way on the in-memory Kafka and on the real broker (so one test runs
unchanged on both)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from mlops_contracts import Envelope, Event, ProjectApplied, decode, encode
from mlops_contracts.projects import Entity, Label, Project, RecordField
from service_kit.in_memory import InMemoryKafka


async def eventually(
    condition: Callable[[], object], within_s: float = 30.0, *, every_s: float = 0.05
) -> None:
    """Wait until ``condition()`` (a plain or an async function) is truthy; AssertionError
    after ``within_s``."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within_s:g} s")
        await asyncio.sleep(every_s)


class TopicTap:
    """Every record of ``topics`` from their beginning, joining no consumer group: read
    straight from ``memory``, or by a background reader of the broker at ``bootstrap``
    (the topics must exist). Use as ``async with TopicTap(...) as tap``."""

    def __init__(
        self,
        topics: Sequence[str],
        *,
        memory: InMemoryKafka | None = None,
        bootstrap: str | None = None,
    ) -> None:
        if (memory is None) == (bootstrap is None):
            raise ValueError("tap either the in-memory Kafka or a broker")
        self._topics = list(topics)
        self._memory = memory
        self._bootstrap = bootstrap
        self._read: dict[str, list[ConsumerRecord[bytes, bytes]]] = {t: [] for t in topics}
        self._reader: asyncio.Task[None] | None = None

    def records(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        """The records of ``topic`` read so far, oldest first (per partition)."""
        if self._memory is not None:
            return self._memory.records(topic)
        return list(self._read[topic])

    def events(self, topic: str) -> list[Any]:
        """The events of ``topic`` read so far (decoded with the contracts codec)."""
        return [self.envelope(record).data for record in self.records(topic)]

    @staticmethod
    def envelope(record: ConsumerRecord[bytes, bytes]) -> Envelope[Any]:
        """One record decoded with the contracts codec."""
        return decode(record.value or b"", record.headers, key=record.key)

    @staticmethod
    def headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
        """A record's headers as text."""
        return {name: (value or b"").decode("utf-8", "replace") for name, value in record.headers}

    async def __aenter__(self) -> TopicTap:
        if self._bootstrap is not None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
            await consumer.start()
            await consumer.topics()  # the cluster's metadata, every topic's partitions
            partitions = [
                TopicPartition(topic, partition)
                for topic in self._topics
                for partition in sorted(consumer.partitions_for_topic(topic) or {0})
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            self._reader = asyncio.create_task(self._read_all(consumer))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read_all(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=50)
                for partition, records in batches.items():
                    self._read[partition.topic].extend(records)
        finally:
            await consumer.stop()


def envelope(
    event: Event, *, event_id: str | None = None, correlation_id: str | None = None
) -> Envelope[Any]:
    """``event`` as a consumer hands it to a handler (for tests that call a handler)."""
    return Envelope(
        id=event_id or f"test-{uuid.uuid4().hex}",
        source="urn:mlops:test",
        type=event.event_type,
        time=datetime.now(UTC),
        subject=event.partition_key(),
        correlation_id=correlation_id,
        data=event,
    )


def project_applied(name: str, *, version: int = 1) -> ProjectApplied:
    """A small project named ``name`` as applied to the mesh (one numeric field)."""
    project = Project(
        name=name,
        entity=Entity(key="id"),
        fields={"x": RecordField(type="numeric")},
        label=Label(field="y", positive="1"),
    )
    return applied(project, version=version)


def applied(project: Project, *, version: int = 1) -> ProjectApplied:
    """``project`` as ``mlops project apply`` publishes it."""
    return ProjectApplied.of(
        project, version=version, applied_by="test", applied_at=datetime.now(UTC)
    )


async def apply_projects(
    *events: ProjectApplied, memory: InMemoryKafka | None = None, bootstrap: str | None = None
) -> None:
    """Put ``events`` on the projects topic of ``memory`` or of the broker at ``bootstrap``
    (before a service starts: it starts knowing them)."""
    wires = [encode(event, source="test", event_id=f"test-{uuid.uuid4().hex}") for event in events]
    if memory is not None:
        for wire in wires:
            memory.append(wire.topic, wire.value, key=wire.key, headers=wire.headers)
        return
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for wire in wires:
            await producer.send_and_wait(
                wire.topic, wire.value, key=wire.key, headers=list(wire.headers)
            )
    finally:
        await producer.stop()
