"""The Kafka client of every service, owned openly on aiokafka's public API.

A service talks to Kafka through the :class:`Kafka` protocol: :class:`KafkaClient` on a
cluster, :class:`~service_kit.in_memory.InMemoryKafka` in component tests. Nothing else in
a service touches a Kafka client, and nothing here branches on which one it is.

Why not a framework's broker: the hot path needs a poll loop that polls again at once
after an empty poll and lingers only when asked, offsets committed together at most every
100 ms and before a revoke, every record handed over with its raw headers (so a record
with a bad header is dead-lettered, not dropped unseen), and a publish path without
per-message middleware (FastStream's cost about a third of a predictor's CPU at full
load). FastStream gives none of these through public APIs, so this module owns them, on
aiokafka's public API only: ``AIOKafkaProducer.send`` (and ``AIOKafkaClient.set_topics`` of
its client, see ``KafkaClient._track``), ``AIOKafkaConsumer.getmany``, ``commit``, ``seek``
and ``subscribe(listener=...)``, and ``AIOKafkaAdminClient``.

One subscription is one ``AIOKafkaConsumer`` and one poll loop (:class:`_PollLoop`):
poll, hand the batch to its :class:`~service_kit.consumption.EventConsumer` (decode,
deduplicate, handle, dead-letter, retry), then mark the records processed for the next
coalesced commit, or seek back to the first record that must come again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner, murmur2

from mlops_contracts import TopicSpec, WireRecord
from service_kit import offset_commits
from service_kit.consumption import EventConsumer, Outcome
from service_kit.logs import event_context
from service_kit.offset_commits import OffsetCommits
from service_kit.settings import ServiceSettings

logger = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36  # Kafka error code: another creator won the race

BATCH_WAIT_MS = 50
"""Longest poll of an idle consumer, by default: how often it wakes with nothing to do (a
poll returns as soon as any record has arrived, whatever this is)."""


@dataclass(frozen=True)
class PollOptions:
    """How one subscription polls (see :class:`_PollLoop`)."""

    max_batch: int = 1
    """Records handed over at once: whatever has arrived, up to this many, as soon as any
    has. 1: one event at a time, each committed once handled."""
    max_wait_ms: int = BATCH_WAIT_MS
    """Longest poll while nothing arrives; the next poll starts at once."""
    request_path: bool = False
    """A synchronous caller waits on these records: the profile's request-path fetch wait."""
    linger_ms: int = 0
    """For a consumer nobody waits on: the next poll after a batch waits until this long
    after it, so a steady stream comes in fewer, larger batches."""
    topic_names: tuple[str, ...] = ()
    """The topics read; empty: the consumer's catalogue topic."""

    def __post_init__(self) -> None:
        if self.max_wait_ms < 1:
            # A poll of 0 ms returns at once without yielding to the event loop, and the
            # loop polls again at once: nothing else (HTTP, heartbeats) would ever run.
            raise ValueError(f"max_wait_ms must be at least 1, got {self.max_wait_ms}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")


class Kafka(Protocol):
    """What a service does with Kafka: publish records, run its subscriptions, answer its
    readiness check and create the topics it owns."""

    def subscribe(self, consumer: EventConsumer, options: PollOptions) -> None:
        """Register a subscription (before :meth:`start_consuming`)."""

    async def connect(self) -> None:
        """Connect the producer: records can be sent, nothing is consumed yet."""

    async def start_consuming(self) -> None:
        """Join every subscription's group and start its poll loop."""

    async def stop_consuming(self) -> None:
        """Let each handler finish its batch, commit what was processed, leave the groups."""

    async def close(self) -> None:
        """Flush and close the producer."""

    async def send(self, records: Sequence[WireRecord]) -> None:
        """Send every record to its topic, all in flight at once; return once the broker
        acknowledged all of them (raise the first failure: the caller retries them all)."""

    async def ping(self, timeout_s: float) -> bool:
        """Whether the cluster answered a metadata request within ``timeout_s``."""

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> list[str]:
        """Create the topics of ``specs`` that do not exist; return the names created."""

    def failing_subscriptions(self) -> list[str]:
        """The subscriptions whose last poll failed, each with why."""

    async def read_topic(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        """Every record of ``topic`` from its start, in no consumer group (a compacted
        topic read whole at start); empty when the topic does not exist."""


def key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's default partitioner (murmur2 of the key, as the Java client, so an
    entity's records land in the same partition whichever client wrote them), remembering
    the hash of recent keys: murmur2 is pure Python, and the hot path sends a record per
    prediction for a bounded set of entities."""
    if type(key) is not bytes:  # None (any available partition), or not cacheable
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[_key_hash(key) % len(all_partitions)]


@functools.lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def connection_options(settings: ServiceSettings) -> dict[str, Any]:
    """aiokafka keyword arguments every client of the service shares: where the cluster is,
    who this is, and how it authenticates (SASL/SCRAM-SHA-512 or TLS in production)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": f"{settings.service_name}-{settings.instance_id}",
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol != "PLAINTEXT":
        options["ssl_context"] = ssl.create_default_context()
    if settings.kafka_security_protocol == "SASL_SSL":
        password = settings.kafka_sasl_password
        options |= {
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": settings.kafka_sasl_username or "",
            "sasl_plain_password": password.get_secret_value() if password else "",
        }
    return options


class KafkaClient:
    """:class:`Kafka` on a cluster: one producer, one admin client, and one consumer with
    its poll loop per subscription."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._profile = settings.kafka_profile
        self._options = connection_options(settings)
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._loops: list[_PollLoop] = []
        self._written: set[str] = set()
        """The topics this producer has written to, whose metadata it keeps."""

    def subscribe(self, consumer: EventConsumer, options: PollOptions) -> None:
        kafka = AIOKafkaConsumer(
            group_id=consumer.group_id,
            enable_auto_commit=False,
            **self._options,
            **self._profile.consumer_options(request_path=options.request_path),
        )
        self._loops.append(_PollLoop(kafka, consumer, options))

    async def connect(self) -> None:
        producer = AIOKafkaProducer(
            **self._options,
            **self._profile.producer_options(),
            partitioner=key_partitioner,
        )
        await producer.start()
        self._producer = producer
        self._admin = AIOKafkaAdminClient(**self._options)
        await self._admin.start()

    async def start_consuming(self) -> None:
        # All at once: a group join can take seconds (the embedded broker holds each for
        # half the session timeout), and they do not depend on each other.
        await asyncio.gather(*(loop.start() for loop in self._loops))

    async def stop_consuming(self) -> None:
        grace = self._settings.shutdown_grace_s
        await asyncio.gather(*(loop.stop(grace) for loop in self._loops))

    async def close(self) -> None:
        if self._producer is not None:
            await _quietly(self._producer.stop(), "flushing the producer")
            self._producer = None
        if self._admin is not None:
            await _quietly(self._admin.close(), "closing the admin client")
            self._admin = None

    async def send(self, records: Sequence[WireRecord]) -> None:
        producer = self._producer
        if producer is None:
            raise RuntimeError("the Kafka producer is not connected")
        if new := {record.topic for record in records} - self._written:
            self._track(producer, new)
        acks = [
            await producer.send(
                record.topic, value=record.value, key=record.key, headers=list(record.headers)
            )
            for record in records
        ]
        await asyncio.gather(*acks)

    def _track(self, producer: AIOKafkaProducer, topics: set[str]) -> None:
        """Keep the metadata of every topic written so far. Left alone, the producer asks
        for every topic's metadata until it first writes one it does not know (a reply
        topic created after it started), then for that one alone: a metadata answer
        holds only the topics asked for, so the others drop out of its view and their
        pending records wait for a leader that never comes back."""
        self._written |= topics
        producer.client.set_topics(sorted(self._written))

    async def ping(self, timeout_s: float) -> bool:
        if self._admin is None:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                await self._admin.describe_cluster()
        except Exception:  # any failure to answer is "not reachable"
            return False
        return True

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> list[str]:
        return await ensure_topics(self._settings.kafka_bootstrap_servers, specs, self._options)

    def failing_subscriptions(self) -> list[str]:
        return [f"{loop.name}: {loop.failure}" for loop in self._loops if loop.failure]

    async def read_topic(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        return [record async for record in read_from_start(self._options, [topic])]


class _PollLoop:
    """One subscription: its consumer, its poll loop and its offsets."""

    def __init__(
        self,
        kafka: AIOKafkaConsumer,
        consumer: EventConsumer,
        options: PollOptions,
    ) -> None:
        self._kafka = kafka
        self._consumer = consumer
        self._options = options
        self._topics = options.topic_names or (consumer.topic.name,)
        self.name = consumer.name
        # One record at a time: each committed once handled, as a plain consumer would.
        interval_ms = offset_commits.COMMIT_INTERVAL_MS if options.max_batch > 1 else 0
        self._commits = OffsetCommits(self._kafka, interval_ms=interval_ms)
        self._linger_s = options.linger_ms / 1000
        self._task: asyncio.Task[None] | None = None
        self._handling = False
        self._stopping = False
        self.failure: str | None = None
        """Why the last poll failed; None while polling works."""

    async def start(self) -> None:
        self._kafka.subscribe(list(self._topics), listener=self._commits.listener())
        await self._kafka.start()
        self._task = asyncio.create_task(self._run(), name=f"poll {self.name}")

    async def stop(self, grace_s: float) -> None:
        """Let the batch in hand finish (at most ``grace_s``), then commit and leave."""
        self._stopping = True
        task = self._task
        if task is not None and not self._handling:
            task.cancel()  # polling or pausing: records not handed over are fetched again
        if task is not None:
            try:
                await asyncio.wait_for(task, grace_s)
            except asyncio.CancelledError:
                pass
            except TimeoutError:
                logger.error(
                    "a batch did not finish within the shutdown grace; its records come again",
                    extra={"consumer": self.name},
                )
        try:
            await self._commits.commit_now()
        finally:
            await _quietly(self._kafka.stop(), f"leaving the group of {self.name}")

    async def _run(self) -> None:
        options = self._options
        next_poll = 0.0
        while not self._stopping:
            try:
                await self._commits.commit_due()  # an idle consumer's last records, when due
                if self._linger_s and (pause := next_poll - time.monotonic()) > 0:
                    await asyncio.sleep(pause)
                batches = await self._kafka.getmany(
                    timeout_ms=options.max_wait_ms, max_records=options.max_batch
                )
                self.failure = None
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the group is rebalancing, the broker is away...
                if self.failure is None:
                    logger.warning("poll failed", exc_info=True, extra={"consumer": self.name})
                self.failure = f"{type(error).__name__}: {error}"
                await asyncio.sleep(1.0)
                continue
            if not batches or self._stopping:
                continue  # on stop: not handed over, not committed, fetched again
            records = [record for part in batches.values() for record in part]
            if self._linger_s:
                next_poll = time.monotonic() + self._linger_s
            self._handling = True
            try:
                await self._handle(records)
            finally:
                self._handling = False

    async def _handle(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        try:
            if len(records) == 1:
                headers = dict(records[0].headers)
                with event_context(
                    _text(headers.get("ce_id")), _text(headers.get("ce_correlationid"))
                ):
                    outcomes = await self._consumer.process_batch(records)
            else:
                outcomes = await self._consumer.process_batch(records)
        except Exception:
            # Even the dead-letter publish failed: never let a commit move past these
            # records. Try them again after a pause.
            logger.exception("records could not be processed nor dead-lettered")
            await asyncio.sleep(self._consumer.retry.max_delay_s)
            outcomes = [Outcome.RETRY_LATER] * len(records)
        if Outcome.RETRY_LATER in outcomes:
            self._redeliver(records, outcomes)
        else:
            self._commits.processed(records)
        await self._commits.commit_due()

    def _redeliver(
        self, records: Sequence[ConsumerRecord[bytes, bytes]], outcomes: Sequence[Outcome]
    ) -> None:
        """Per partition: what came before its first record to retry counts as processed;
        the partition is read again from that record."""
        first_retry: dict[TopicPartition, int] = {}
        done: list[ConsumerRecord[bytes, bytes]] = []
        for record, outcome in zip(records, outcomes, strict=True):
            partition = TopicPartition(record.topic, record.partition)
            if partition in first_retry:
                continue
            if outcome is Outcome.RETRY_LATER:
                first_retry[partition] = record.offset
            else:
                done.append(record)
        self._commits.processed(done)
        for partition, offset in first_retry.items():
            self._kafka.seek(partition, offset)


async def _quietly(closing: Awaitable[None], what: str) -> None:
    """Await an aiokafka stop or close that may fail when the broker is gone (it can even
    raise the CancelledError of one of its own fetch tasks): logged, not raised, so the
    rest of the shutdown runs. A cancellation of the caller itself still propagates."""
    try:
        await closing
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        logger.warning("%s was interrupted", what)
    except Exception:
        logger.warning("%s failed", what, exc_info=True)


async def read_from_start(
    options: dict[str, Any],
    topics: Sequence[str],
    *,
    idle_polls: int = 5,
    stop_at_end: bool = True,
    deadline_s: float = 60.0,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` (those that exist, all partitions) from their start, in
    no consumer group.

    With ``stop_at_end`` (a topic read whole): until every partition reached the end offset
    it had when the read began and a poll then brought nothing (the embedded broker may
    report an end offset short of the last batch: the empty poll is what says nothing is
    left); a read that does not get there in ``deadline_s`` raises ``TimeoutError`` rather
    than return part of the topic. Without it: until ``idle_polls`` polls of 200 ms in a
    row brought nothing."""
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=50, **options
    )
    try:
        await consumer.start()
        available = await consumer.topics()
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            if topic in available
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions) if stop_at_end else {}
        give_up = time.monotonic() + deadline_s
        idle = 0
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            idle = 0 if batches else idle + 1
            for records in batches.values():
                for record in records:
                    yield record
            if not stop_at_end:
                if idle >= idle_polls:
                    return
                continue
            if not batches and all([await consumer.position(p) >= end for p, end in ends.items()]):
                return
            if time.monotonic() > give_up:
                raise TimeoutError(
                    f"reading {', '.join(topics)} to its end took over {deadline_s:g} s"
                )
    finally:
        await _quietly(consumer.stop(), "closing a topic reader")


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", "replace") if value else None


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[TopicSpec],
    options: dict[str, Any] | None = None,
    *,
    replication_factor: int = 1,
) -> list[str]:
    """Create each topic that does not exist yet, with its partition count and retention
    config; return the names created. ``options``: the client's connection options
    (security), as :func:`connection_options` makes them.

    Used by the embedded mesh launcher, by tests and by a gateway for its own reply topic.
    In production, the catalogue's topics are owned by the cluster's operator (Strimzi
    ``KafkaTopic`` resources), not by the services.
    """
    wanted = {spec.name: spec for spec in topics}
    admin = AIOKafkaAdminClient(**((options or {}) | {"bootstrap_servers": bootstrap_servers}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name,
                        wanted[name].partitions,
                        replication_factor=replication_factor,
                        topic_configs=wanted[name].topic_config(),
                    )
                    for name in missing
                ]
            )
            failed = [
                f"{topic}: error {code} {message or ''}".strip()
                for topic, code, *rest in response.topic_errors
                for message in [rest[0] if rest else None]
                if code not in (0, _TOPIC_ALREADY_EXISTS)
            ]
            if failed:
                raise RuntimeError(f"could not create topics: {'; '.join(failed)}")
            logger.info("created topics", extra={"topics": missing})
        return missing
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
