"""Kafka plumbing shared by every service: the broker factory, topic creation, and
publishing contract events in the CloudEvents binary format."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner, murmur2
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import BaseSecurity, SASLScram512

from mlops_contracts import Event, TopicSpec, WireRecord, encode
from service_kit.logs import event_context
from service_kit.settings import ServiceSettings

if TYPE_CHECKING:
    from faststream.message import StreamMessage
    from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36  # Kafka error code: another creator won the race


class EventLogContextMiddleware(BaseMiddleware):
    """Puts the consumed record's CloudEvents id and correlation id on every log line."""

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        headers = msg.headers
        with event_context(headers.get("ce_id"), headers.get("ce_correlationid")):
            return await call_next(msg)


def _security(settings: ServiceSettings) -> BaseSecurity | None:
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    if settings.kafka_security_protocol == "SSL":
        return BaseSecurity(ssl_context=ssl.create_default_context(), use_ssl=True)
    password = settings.kafka_sasl_password
    return SASLScram512(
        username=settings.kafka_sasl_username or "",
        password=password.get_secret_value() if password else "",
        ssl_context=ssl.create_default_context(),
        use_ssl=True,
    )


def create_broker(settings: ServiceSettings, metrics: CollectorRegistry) -> KafkaBroker:
    """Build (without connecting) the service's broker with its profile's producer options,
    Prometheus metrics and event-id log context on every consumed record."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-{settings.instance_id}",
        security=_security(settings),
        middlewares=(
            EventLogContextMiddleware,
            KafkaPrometheusMiddleware(registry=metrics, app_name=settings.service_name),
        ),
        logger=logging.getLogger(f"{settings.service_name}.broker"),
        # FastStream logs "Received" and "Processed" for every record (batch) it hands a
        # handler: at DEBUG, not two log lines per event on the hot path (failures stay
        # ERROR). LOG_LEVEL=DEBUG shows them.
        log_level=logging.DEBUG,
        graceful_timeout=settings.shutdown_grace_s,
        partitioner=key_partitioner,
        **settings.kafka_profile.producer_options(),
    )


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


class Publisher(Protocol):
    """What a use case needs to publish an event (``EventPublisher``, or a test double)."""

    async def publish(
        self,
        event: Event,
        *,
        topic: str | None = ...,
        correlation_id: str | None = ...,
        event_id: str | None = ...,
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One event to publish in a ``publish_all`` call."""

    event: Event
    topic: str | None = None
    """Where to: the event's catalogue topic when None."""
    correlation_id: str | None = None


class BatchPublisher(Publisher, Protocol):
    """A publisher that can also send many events at once (the hot path)."""

    async def publish_all(self, outgoing: Sequence[Outgoing]) -> None: ...


class EventPublisher:
    """Publishes contract events as CloudEvents binary-mode records (key = entity).

    On a real broker the records go straight to the Kafka producer: FastStream's
    per-message publish path (middlewares, command objects) cost about a third of a
    predictor's CPU at full load and a quarter of the gateway's per request. FastStream's
    in-memory test broker takes them through its own publish.
    """

    def __init__(self, broker: KafkaBroker, source: str) -> None:
        self._broker = broker
        self._source = source

    async def publish(
        self,
        event: Event,
        *,
        topic: str | None = None,
        correlation_id: str | None = None,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> str:
        """Publish ``event`` to its catalogue topic (or ``topic``); return its event id.

        Returns only once the broker acknowledged the record (acks per profile).
        """
        record = encode(
            event,
            source=self._source,
            event_id=event_id,
            time=time,
            correlation_id=correlation_id,
        )
        await self._send([(topic or record.topic, record)])
        return (record.header("ce_id") or b"").decode()

    async def publish_all(self, outgoing: Sequence[Outgoing]) -> None:
        """Publish every event, all in flight at once; return once the broker acknowledged
        all of them (raises the first failure: the caller retries the whole lot)."""
        records = []
        for item in outgoing:
            record = encode(item.event, source=self._source, correlation_id=item.correlation_id)
            records.append((item.topic or record.topic, record))
        await self._send(records)

    async def _send(self, records: Sequence[tuple[str, WireRecord]]) -> None:
        producer = _kafka_producer(self._broker)
        if producer is None:
            for topic, record in records:
                await self._broker.publish(
                    record.value, topic, key=record.key, headers=record.text_headers()
                )
            return
        acks = [
            await producer.send(
                topic, value=record.value, key=record.key, headers=list(record.headers)
            )
            for topic, record in records
        ]
        await asyncio.gather(*acks)


def _kafka_producer(broker: KafkaBroker) -> Any:
    """The connected broker's aiokafka producer; None for FastStream's in-memory test broker."""
    producer: Any = broker.config.producer
    return getattr(getattr(producer, "_producer", None), "producer", None)


def request_metadata_for_all_topics(broker: KafkaBroker) -> None:
    """Dev profile only (see ``KafkaClientProfile.metadata_for_all_topics``): make the
    connected broker's producer ask for every topic's metadata whenever it refreshes."""
    client = getattr(_kafka_producer(broker), "client", None)
    if client is None:  # FastStream's in-memory test broker: no real client
        return
    update = client._metadata_update

    async def for_all_topics(cluster_metadata: Any, _topics: Any) -> Any:
        return await update(cluster_metadata, ())

    client._metadata_update = for_all_topics


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[TopicSpec],
    *,
    replication_factor: int = 1,
) -> list[str]:
    """Create each topic that does not exist yet, with its partition count and retention
    config; return the names created.

    Used by the embedded mesh launcher and by tests. In production, topics are owned by
    the cluster's operator (Strimzi ``KafkaTopic`` resources), not by the services.
    """
    wanted = {spec.name: spec for spec in topics}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
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
        await admin.close()
