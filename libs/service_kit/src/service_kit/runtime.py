"""The shared plumbing of one service process: broker, metrics, state database,
dead letters, processed-event ids. Built from settings without I/O; started in the
app lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from prometheus_client import CollectorRegistry

from mlops_contracts import TopicSpec, service_source
from service_kit.consumption import (
    BATCH_WAIT_MS,
    DEFAULT_RETRY,
    BatchHandler,
    EventConsumer,
    EventHandler,
    RecordDecoder,
    RetryPolicy,
    decode_cloud_event,
    one_at_a_time,
    subscribe,
)
from service_kit.database import create_engine, ping
from service_kit.dead_letters import DeadLetters
from service_kit.idempotency import SqlProcessedEvents
from service_kit.kafka import (
    EventPublisher,
    create_broker,
    ensure_topics,
    request_metadata_for_all_topics,
)
from service_kit.offset_commits import coalesce_commits
from service_kit.settings import ServiceSettings

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]

_PRUNE_EVERY_S = 6 * 3600


class DependencyNotReady(Exception):
    """A readiness check failed; the message says which dependency and why."""


class ServiceRuntime:
    """Everything a service shares with the others, built from its settings."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.metrics = CollectorRegistry()
        self.broker = create_broker(settings, self.metrics)
        self.engine = create_engine(settings.state_database_url)
        self.processed = SqlProcessedEvents(self.engine)
        self.dead_letters = DeadLetters(self.broker)
        self.publisher = EventPublisher(
            self.broker, source=service_source(settings.service_name, settings.instance_id)
        )
        self.started = False
        self._pruning: asyncio.Task[None] | None = None
        """True between a completed start and the beginning of shutdown."""
        self.readiness: dict[str, ReadinessCheck] = {
            "kafka": self._kafka_ready,
            "database": self._database_ready,
        }

    def consume(
        self,
        topic: TopicSpec,
        handler: EventHandler,
        *,
        group_id: str | None = None,
        idempotent: bool = True,
        retry: RetryPolicy = DEFAULT_RETRY,
        decoder: RecordDecoder = decode_cloud_event,
    ) -> EventConsumer:
        """Subscribe ``handler`` to ``topic``, one event at a time, in this service's
        consumer group (or ``group_id``, e.g. a per-replica group for broadcast topics)."""
        return self.consume_batches(
            topic,
            one_at_a_time(handler),
            group_id=group_id,
            idempotent=idempotent,
            retry=retry,
            decoder=decoder,
            max_batch=1,
        )

    def consume_batches(
        self,
        topic: TopicSpec,
        handler: BatchHandler,
        *,
        group_id: str | None = None,
        idempotent: bool = True,
        retry: RetryPolicy = DEFAULT_RETRY,
        decoder: RecordDecoder = decode_cloud_event,
        max_batch: int = 500,
        max_wait_ms: int = BATCH_WAIT_MS,
        request_path: bool = False,
        linger_ms: int = 0,
    ) -> EventConsumer:
        """Subscribe ``handler`` to ``topic`` with batches of up to ``max_batch`` events
        (one deduplication query per batch; their offsets committed at most every 100 ms).
        ``idempotent=False`` when the handler deduplicates itself (e.g. on a natural key in
        its own transaction). ``request_path`` when a synchronous caller waits on these
        events (a shorter fetch wait on the embedded broker). ``max_wait_ms`` and
        ``linger_ms``: see ``subscribe``."""
        consumer = EventConsumer(
            topic=topic,
            group_id=group_id or self.settings.service_name,
            handler=handler,
            dead_letters=self.dead_letters,
            processed=self.processed if idempotent else None,
            retry=retry,
            decoder=decoder,
        )
        subscribe(
            self.broker,
            consumer,
            self.settings.kafka_profile,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            request_path=request_path,
            linger_ms=linger_ms,
        )
        return consumer

    async def connect(self) -> None:
        """Create local state and connect the producer; no record is consumed yet."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self.processed.create_schema()
        await self.broker.connect()
        coalesce_commits(self.broker)
        if self.settings.kafka_profile.metadata_for_all_topics:
            request_metadata_for_all_topics(self.broker)
        self._pruning = asyncio.create_task(self._prune_processed_ids())

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> list[str]:
        """Create the topics of ``specs`` this service owns (e.g. a reply topic) unless they
        exist; returns the names created."""
        return await ensure_topics(self.settings.kafka_bootstrap_servers, specs)

    async def start_consuming(self) -> None:
        """Start every subscriber: called once the service's own resources are loaded."""
        await self.broker.start()
        logger.info(
            "service started",
            extra={
                "profile": self.settings.profile,
                "kafka": self.settings.kafka_bootstrap_servers,
                "http_port": self.settings.http_port,
            },
        )

    async def stop_consuming(self) -> None:
        """Drain in-flight handlers (bounded by the broker's graceful timeout), commit
        their offsets, leave the groups and disconnect."""
        await self.broker.stop()

    async def close(self) -> None:
        """Release what is left once nothing consumes any more."""
        if self._pruning is not None:
            self._pruning.cancel()
        await self.engine.dispose()
        logger.info("service stopped")

    async def _prune_processed_ids(self) -> None:
        # Ids older than any redelivery horizon (topic retention) can never come back.
        while True:
            try:
                removed = await self.processed.forget_older_than(
                    timedelta(days=self.settings.processed_ids_retention_days)
                )
                if removed:
                    logger.info("pruned processed event ids", extra={"removed": removed})
            except Exception:
                logger.warning("pruning processed event ids failed", exc_info=True)
            await asyncio.sleep(_PRUNE_EVERY_S)

    async def _kafka_ready(self) -> None:
        if not await self.broker.ping(timeout=2.0):
            raise DependencyNotReady(
                f"Kafka at {self.settings.kafka_bootstrap_servers} did not answer in 2 s"
            )

    async def _database_ready(self) -> None:
        try:
            await ping(self.engine)
        except Exception as error:
            raise DependencyNotReady(f"database did not answer: {error}") from error
