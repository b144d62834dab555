"""Kafka in this process, for component tests: :class:`InMemoryKafka` is the same
:class:`~service_kit.kafka.Kafka` as the real client, so a test runs a whole service (its
subscriptions, dead letters, retries and commits, through the same ``EventConsumer``)
without a broker; the same flows run against the real broker in the ``connected`` tests.

Each topic is one partition. A consumer group reads each topic from its committed offset
(the earliest when it has none), a batch of up to ``max_batch`` records at a time; a
record taken to an outcome is committed, one to retry is read again. Two subscriptions of
one group on one topic: the first one registered gets the partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from aiokafka import ConsumerRecord

from mlops_contracts import TopicSpec, WireRecord
from service_kit.consumption import EventConsumer, Outcome
from service_kit.kafka import PollOptions

logger = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


@dataclass
class _Subscription:
    consumer: EventConsumer
    options: PollOptions
    topics: tuple[str, ...]
    owned: tuple[str, ...] = ()
    """The topics whose partition this subscription holds in its group."""
    position: dict[str, int] = field(default_factory=dict)
    busy: bool = False
    task: asyncio.Task[None] | None = None


class InMemoryKafka:
    """Topics, groups and committed offsets in memory (see the module docstring)."""

    def __init__(self) -> None:
        self.topics: dict[str, list[Record]] = {}
        self.committed: dict[tuple[str, str], int] = {}
        """(group, topic) -> offset of the next record the group reads."""
        self.fail_sends = 0
        """The next this many ``send`` calls raise, as a broker that does not acknowledge."""
        self._subscriptions: list[_Subscription] = []
        self._owners: dict[tuple[str, str], _Subscription] = {}
        self._arrived = asyncio.Event()
        self._consuming = False

    # ---------------------------------------------------------------- the Kafka protocol

    def subscribe(self, consumer: EventConsumer, options: PollOptions) -> None:
        topics = options.topic_names or (consumer.topic.name,)
        subscription = _Subscription(consumer, options, topics)
        owned = []
        for topic in topics:
            if self._owners.setdefault((consumer.group_id, topic), subscription) is subscription:
                owned.append(topic)
        subscription.owned = tuple(owned)
        self._subscriptions.append(subscription)
        if self._consuming:
            self._start(subscription)

    async def connect(self) -> None:
        return None

    async def start_consuming(self) -> None:
        self._consuming = True
        for subscription in self._subscriptions:
            if subscription.task is None:
                self._start(subscription)

    async def stop_consuming(self) -> None:
        self._consuming = False
        self._arrived.set()  # idle loops wake, see the stop and end; a busy one ends its batch
        tasks = [s.task for s in self._subscriptions if s.task is not None]
        for subscription in self._subscriptions:
            subscription.task = None
        await asyncio.gather(*tasks)

    async def close(self) -> None:
        return None

    async def send(self, records: Sequence[WireRecord]) -> None:
        if self.fail_sends:
            self.fail_sends -= 1
            raise ConnectionError("the in-memory broker did not acknowledge (test)")
        for record in records:
            self.append(record.topic, record.value, key=record.key, headers=record.headers)

    async def ping(self, timeout_s: float) -> bool:
        return True

    def failing_subscriptions(self) -> list[str]:
        return []

    async def read_topic(self, topic: str) -> list[Record]:
        return list(self.topics.get(topic, ()))

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> list[str]:
        created = [spec.name for spec in specs if spec.name not in self.topics]
        for name in created:
            self.topics[name] = []
        return created

    # ---------------------------------------------------------------- for tests

    def append(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Iterable[tuple[str, bytes | None]] = (),
    ) -> Record:
        """Put one record on ``topic`` at once (any bytes: poison records too)."""
        log = self.topics.setdefault(topic, [])
        record: Record = ConsumerRecord(
            topic=topic,
            partition=0,
            offset=len(log),
            timestamp=int(time.time() * 1000),
            timestamp_type=0,
            key=key,
            value=value,
            checksum=None,
            serialized_key_size=len(key) if key else -1,
            serialized_value_size=len(value),
            headers=tuple(headers),
        )
        log.append(record)
        self._arrived.set()
        return record

    def subscriptions(self) -> dict[str, PollOptions]:
        """Every subscription by consumer name (``<group>:<topic>``), with how it polls."""
        return {s.consumer.name: s.options for s in self._subscriptions}

    def records(self, topic: str) -> list[Record]:
        """Every record ``topic`` holds, oldest first."""
        return list(self.topics.get(topic, ()))

    async def settled(self, timeout_s: float = 10.0) -> None:
        """Wait until every subscription has taken every record of its topics to an
        outcome (what its handlers published included)."""
        deadline = time.monotonic() + timeout_s
        while not self._caught_up():
            if time.monotonic() > deadline:
                behind = [s.consumer.name for s in self._subscriptions if not self._done(s)]
                raise TimeoutError(f"subscriptions still behind after {timeout_s} s: {behind}")
            await asyncio.sleep(0.005)

    def _caught_up(self) -> bool:
        return all(self._done(s) for s in self._subscriptions)

    def _done(self, subscription: _Subscription) -> bool:
        return not subscription.busy and all(
            self._next(subscription, topic) >= len(self.topics.get(topic, ()))
            for topic in subscription.owned
        )

    # ---------------------------------------------------------------- delivery

    def _start(self, subscription: _Subscription) -> None:
        subscription.task = asyncio.create_task(
            self._deliver(subscription), name=f"in-memory {subscription.consumer.name}"
        )

    def _next(self, subscription: _Subscription, topic: str) -> int:
        if topic not in subscription.position:
            key = (subscription.consumer.group_id, topic)
            subscription.position[topic] = self.committed.get(key, 0)
        return subscription.position[topic]

    def _take(self, subscription: _Subscription) -> list[Record]:
        batch: list[Record] = []
        for topic in subscription.owned:
            start = self._next(subscription, topic)
            room = subscription.options.max_batch - len(batch)
            batch.extend(self.topics.get(topic, [])[start : start + room])
            if len(batch) >= subscription.options.max_batch:
                break
        return batch

    async def _deliver(self, subscription: _Subscription) -> None:
        consumer = subscription.consumer
        while self._consuming:
            batch = self._take(subscription)
            if not batch:
                self._arrived.clear()
                await self._wait_for_records(subscription.options.max_wait_ms)
                continue
            subscription.busy = True
            try:
                try:
                    outcomes = await consumer.process_batch(batch)
                except Exception:
                    logger.exception("records could not be processed nor dead-lettered")
                    outcomes = [Outcome.RETRY_LATER] * len(batch)
                self._settle(subscription, batch, outcomes)
            finally:
                subscription.busy = False
            if Outcome.RETRY_LATER in outcomes:
                await asyncio.sleep(consumer.retry.first_delay_s)

    async def _wait_for_records(self, max_wait_ms: int) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), max_wait_ms / 1000)

    def _settle(
        self, subscription: _Subscription, batch: Sequence[Record], outcomes: Sequence[Outcome]
    ) -> None:
        retry: set[str] = set()
        for record, outcome in zip(batch, outcomes, strict=True):
            if record.topic in retry:
                continue
            if outcome is Outcome.RETRY_LATER:
                retry.add(record.topic)
                subscription.position[record.topic] = record.offset
            else:
                subscription.position[record.topic] = record.offset + 1
            self.committed[(subscription.consumer.group_id, record.topic)] = subscription.position[
                record.topic
            ]
