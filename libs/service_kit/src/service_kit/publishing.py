"""Publishing contract events as CloudEvents binary-mode records (key = the entity)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from mlops_contracts import Event, encode

if TYPE_CHECKING:
    from service_kit.kafka import Kafka


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
    event_id: str | None = None
    """The CloudEvents id (a new one when None)."""
    time: datetime | None = None
    """When it happened (now when None)."""
    copy_to: str | None = None
    """Another topic the same record goes to as well (e.g. a request's reply-to topic)."""


class BatchPublisher(Publisher, Protocol):
    """A publisher that can also send many events at once (the hot path)."""

    async def publish_all(self, outgoing: Sequence[Outgoing]) -> None: ...


class EventPublisher:
    """Encodes contract events and sends them with the service's Kafka client."""

    def __init__(self, kafka: Kafka, source: str) -> None:
        self._kafka = kafka
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
        if topic is not None:
            record = dataclasses.replace(record, topic=topic)
        await self._kafka.send([record])
        return (record.header("ce_id") or b"").decode()

    async def publish_all(self, outgoing: Sequence[Outgoing]) -> None:
        """Publish every event, all in flight at once; return once the broker acknowledged
        all of them (raises the first failure: the caller retries the whole lot)."""
        records = []
        for item in outgoing:
            record = encode(
                item.event,
                source=self._source,
                event_id=item.event_id,
                time=item.time,
                correlation_id=item.correlation_id,
            )
            if item.topic is not None:
                record = dataclasses.replace(record, topic=item.topic)
            records.append(record)
            if item.copy_to is not None:
                records.append(dataclasses.replace(record, topic=item.copy_to))
        await self._kafka.send(records)
