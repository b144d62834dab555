"""The shared plumbing of one service process: Kafka, metrics, the state database, dead
letters, processed-event ids, and the background tasks. Built from settings without I/O;
connected, run and stopped by the service's lifespan (``service_kit.service_app``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from prometheus_client import CollectorRegistry

from mlops_contracts import service_source
from service_kit.consumption import ConsumerMetrics, EventConsumer
from service_kit.database import create_engine, ping
from service_kit.dead_letters import DeadLetters
from service_kit.idempotency import SqlProcessedEvents
from service_kit.kafka import Kafka, KafkaClient
from service_kit.outbox import Outbox
from service_kit.projects import ProjectCatalog
from service_kit.publishing import EventPublisher
from service_kit.schema import KIT, Migrations, Revisions, migrate
from service_kit.settings import ServiceSettings
from service_kit.subscriptions import Subscription, group_id

logger = logging.getLogger(__name__)

C = TypeVar("C")

ReadinessCheck = Callable[[], Awaitable[None]]
BackgroundWork = Callable[[], Awaitable[None]]

_PRUNE_EVERY_S = 6 * 3600
_RESTART_DELAY_S = 5.0


class DependencyNotReady(Exception):
    """A readiness check failed, or the service is not started; the message says which
    dependency and why."""


class ServiceRuntime:
    """Everything a service shares with the others, built from its settings.

    ``kafka``: the Kafka client (``InMemoryKafka`` in component tests); by default the
    real one, on the settings' cluster and profile."""

    def __init__(
        self,
        settings: ServiceSettings,
        kafka: Kafka | None = None,
        migrations: Sequence[Migrations] = (),
    ) -> None:
        self.settings = settings
        self.migrations = [KIT, *migrations]
        """The schema of the state database: the kit's tables and the service's."""
        self.metrics = CollectorRegistry()
        self.kafka: Kafka = kafka if kafka is not None else KafkaClient(settings)
        self._consumer_metrics = ConsumerMetrics(self.metrics)
        self.engine = create_engine(settings.state_database_url)
        self.processed = SqlProcessedEvents(self.engine)
        self.dead_letters = DeadLetters(self.kafka)
        self.publisher = EventPublisher(
            self.kafka, source=service_source(settings.service_name, settings.instance_id)
        )
        self.started = False
        """True between a completed start and the beginning of shutdown."""
        self.readiness: dict[str, ReadinessCheck] = {
            "kafka": self._kafka_ready,
            "database": self._database_ready,
        }
        self._background: dict[str, BackgroundWork] = {"prune old ids and events": self._prune}
        self._tasks: list[asyncio.Task[None]] = []
        self._outbox: Outbox | None = None
        self._projects: ProjectCatalog | None = None

    @property
    def outbox(self) -> Outbox:
        """The service's outbox in its state database; its relay runs from
        :meth:`start_consuming` on (only in a service that uses it)."""
        if self._outbox is None:
            self._outbox = Outbox(self.engine, self.publisher)
            self.run_in_background("outbox relay", self._outbox.run)
        return self._outbox

    async def projects(self) -> ProjectCatalog:
        """The model projects applied to the mesh (only in a service that uses them): read
        whole from the projects topic on the first call (in ``build``, so the service
        starts knowing them), then followed from :meth:`start_consuming` on."""
        if self._projects is None:
            catalog = await ProjectCatalog.load(self.kafka)
            self.subscribe(catalog.follow(), catalog)
            self._projects = catalog
        return self._projects

    def subscribe(self, subscription: Subscription[C], components: C) -> EventConsumer:
        """Run ``subscription`` with the handler it takes from ``components`` (from
        :meth:`start_consuming` on); returns its consumer."""
        consumer = EventConsumer(
            topic=subscription.topic,
            group_id=group_id(subscription.group, self.settings),
            handler=subscription.handler(components),
            dead_letters=self.dead_letters,
            processed=self.processed if subscription.idempotent else None,
            retry=subscription.retry,
            decoder=subscription.decoder,
            metrics=self._consumer_metrics,
        )
        self.kafka.subscribe(consumer, subscription.poll)
        return consumer

    def run_in_background(self, name: str, work: BackgroundWork) -> None:
        """Run ``work`` from :meth:`start_consuming` until the service stops: restarted
        (after a pause) whenever it fails, cancelled at stop."""
        self._background[name] = work

    async def connect(self) -> None:
        """Migrate the state database to this release's schema and connect the producer;
        no record is consumed yet."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self.migrate()
        await self.kafka.connect()

    async def migrate(self) -> Revisions:
        """Upgrade the state database to this release's schema (see ``schema.migrate``)."""
        return await migrate(self.engine, self.migrations)

    async def start_consuming(self) -> None:
        """Start the background work and every subscription: called once the service's
        own resources are loaded."""
        self._tasks = [
            asyncio.create_task(_supervised(name, work), name=name)
            for name, work in self._background.items()
        ]
        await self.kafka.start_consuming()
        logger.info(
            "service started",
            extra={
                "profile": self.settings.profile,
                "kafka": self.settings.kafka_bootstrap_servers,
                "http_port": self.settings.http_port,
            },
        )

    async def stop_consuming(self) -> None:
        """Drain in-flight handlers (bounded by the shutdown grace), commit their offsets,
        leave the groups; then stop the background work."""
        await self.kafka.stop_consuming()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def close(self) -> None:
        """Release what is left once nothing consumes or publishes any more."""
        await self.kafka.close()
        await self.engine.dispose()
        logger.info("service stopped")

    async def _prune(self) -> None:
        # Ids older than any redelivery horizon (topic retention) can never come back, and
        # an event published that long ago is never published again.
        while True:
            age = timedelta(days=self.settings.processed_ids_retention_days)
            removed = await self.processed.forget_older_than(age)
            if self._outbox is not None:
                removed += await self._outbox.forget_published_before(datetime.now(UTC) - age)
            if removed:
                logger.info(
                    "pruned processed event ids and published events", extra={"removed": removed}
                )
            await asyncio.sleep(_PRUNE_EVERY_S)

    async def _kafka_ready(self) -> None:
        if not await self.kafka.ping(timeout_s=2.0):
            raise DependencyNotReady(
                f"Kafka at {self.settings.kafka_bootstrap_servers} did not answer in 2 s"
            )
        if failing := self.kafka.failing_subscriptions():
            raise DependencyNotReady(f"polls failing: {'; '.join(failing)}")

    async def _database_ready(self) -> None:
        try:
            await ping(self.engine)
        except Exception as error:
            raise DependencyNotReady(f"database did not answer: {error}") from error


def every(
    seconds: float, step: BackgroundWork, *, first_after_s: float | None = None
) -> BackgroundWork:
    """Background work that runs ``step`` every ``seconds`` (the first time after
    ``first_after_s``, by default ``seconds``); a failing step is logged and the next one
    runs on time."""

    async def periodically() -> None:
        await asyncio.sleep(seconds if first_after_s is None else first_after_s)
        while True:
            try:
                await step()
            except Exception:
                logger.warning("periodic work failed; it runs again", exc_info=True)
            await asyncio.sleep(seconds)

    return periodically


async def _supervised(name: str, work: BackgroundWork) -> None:
    while True:
        try:
            await work()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background work failed; restarting it", extra={"work": name})
            await asyncio.sleep(_RESTART_DELAY_S)
