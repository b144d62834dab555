"""At-least-once, idempotent consumption of contract events with dead letters and retries.

The decision for one record lives in :meth:`EventConsumer.process`, free of FastStream, so
unit tests drive it with fakes; :func:`subscribe` adapts it to a FastStream subscriber
that commits only after the record was handled or dead-lettered.
"""

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from mlops_contracts import ContractError, Envelope, TopicSpec, decode
from service_kit.dead_letters import ConsumedRecord, DeadLetters
from service_kit.idempotency import ProcessedEvents
from service_kit.settings import KafkaClientProfile

logger = logging.getLogger(__name__)

EventHandler = Callable[[Envelope[Any]], Awaitable[None]]


class UnprocessableEvent(Exception):
    """Raised by a handler for an event that can never be processed (a deterministic
    failure): the record goes to the dead-letter topic and the consumer moves on."""


# Failures that will fail the same way on every redelivery.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    UnprocessableEvent,
    ContractError,
    ValidationError,
)


class Outcome(enum.Enum):
    """What happened to one record; every outcome but RETRY_LATER commits it."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    RETRY_LATER = "retry_later"


@dataclass(frozen=True)
class RetryPolicy:
    """In-place retries with exponential backoff for transient errors; after the last
    attempt the record is not committed and is redelivered (never dropped)."""

    attempts: int = 5
    first_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** (attempt - 1)))


DEFAULT_RETRY = RetryPolicy()


class EventConsumer:
    """Decodes, de-duplicates, handles, dead-letters and retries one topic's records."""

    def __init__(
        self,
        *,
        topic: TopicSpec,
        group_id: str,
        handler: EventHandler,
        dead_letters: DeadLetters,
        processed: ProcessedEvents | None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self._handler = handler
        self._dead_letters = dead_letters
        self._processed = processed
        self._retry = retry
        self._sleep = sleep
        self._name = f"{group_id}:{topic.name}"

    async def process(self, record: ConsumedRecord) -> Outcome:
        """Take one record to an outcome. Raises only if the dead-letter publish fails."""
        try:
            envelope = decode(
                record.value or b"",
                record.headers,
                key=record.key,
                expected_types=self.topic.event_types,
            )
        except ContractError as error:
            await self._dead_letters.park(record, error, self.group_id)
            return Outcome.DEAD_LETTERED

        if self._processed is not None and await self._processed.seen(self._name, envelope.id):
            logger.info("duplicate event skipped", extra={"consumer": self._name})
            return Outcome.DUPLICATE

        for attempt in range(1, self._retry.attempts + 1):
            try:
                await self._handler(envelope)
            except PERMANENT_ERRORS as error:
                await self._dead_letters.park(record, error, self.group_id)
                return Outcome.DEAD_LETTERED
            except Exception:
                logger.warning(
                    "handler failed, will retry",
                    exc_info=True,
                    extra={"consumer": self._name, "attempt": attempt},
                )
                if attempt < self._retry.attempts:
                    await self._sleep(self._retry.delay(attempt))
                continue
            if self._processed is not None:
                await self._processed.mark(self._name, envelope.id)
            return Outcome.HANDLED
        logger.error(
            "handler kept failing; record left uncommitted for redelivery",
            extra={"consumer": self._name, "attempts": self._retry.attempts},
        )
        return Outcome.RETRY_LATER


def subscribe(
    broker: KafkaBroker,
    consumer: EventConsumer,
    profile: KafkaClientProfile,
    *,
    topic_names: Collection[str] | None = None,
) -> None:
    """Register ``consumer`` on ``broker`` with manual commits after processing.

    ``topic_names`` overrides the subscribed topic names (a gateway's own reply topic);
    by default it is the consumer's catalogue topic.
    """

    async def on_record(message: KafkaMessage) -> None:
        outcome = await consumer.process(message.raw_message)  # type: ignore[arg-type]
        if outcome is Outcome.RETRY_LATER:
            await message.nack()  # seek back: the same record comes again
        else:
            await message.ack()

    broker.subscriber(
        *(topic_names or [consumer.topic.name]),
        group_id=consumer.group_id,
        ack_policy=AckPolicy.MANUAL,
        decoder=_undecoded,
        **profile.consumer_options(),
    )(on_record)


async def _undecoded(message: StreamMessage[Any]) -> Any:
    # The handler decodes with the contracts codec; FastStream's own JSON decoding would
    # fail on a poison record before the dead-letter logic could see it.
    return message.body
