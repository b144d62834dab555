"""At-least-once, idempotent consumption of contract events with dead letters and retries.

The decision for one record lives in :meth:`EventConsumer.process`, free of FastStream, so
unit tests drive it with fakes; :func:`subscribe` adapts it to a FastStream subscriber
that commits only after the record was handled or dead-lettered.
"""

import asyncio
import dataclasses
import enum
import json
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord
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
RecordDecoder = Callable[[ConsumedRecord, TopicSpec], Envelope[Any]]


class UnprocessableEvent(Exception):
    """Raised by a handler for an event that can never be processed (a deterministic
    failure): the record goes to the dead-letter topic and the consumer moves on."""


# Failures that will fail the same way on every redelivery.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    UnprocessableEvent,
    ContractError,
    ValidationError,
)


def decode_cloud_event(record: ConsumedRecord, topic: TopicSpec) -> Envelope[Any]:
    """The default: a CloudEvents binary-mode record of one of the topic's event types."""
    return decode(
        record.value or b"",
        record.headers,
        key=record.key,
        expected_types=topic.event_types,
    )


def decode_raw_json(record: ConsumedRecord, topic: TopicSpec) -> Envelope[Any]:
    """For topics of untrusted, schema-less JSON (e.g. raw records from outside): the data
    is the parsed JSON value; the id is the record's position, so a redelivery of the same
    record is recognised."""
    try:
        data = json.loads(record.value or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnprocessableEvent(f"record value is not JSON: {error}") from error
    key = record.key.decode("utf-8", "replace") if record.key else None
    return Envelope(
        id=f"{record.topic}/{record.partition}/{record.offset}",
        source=f"kafka:{record.topic}",
        type="raw.json",
        time=None,
        subject=key,
        correlation_id=None,
        data=data,
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
        decoder: RecordDecoder = decode_cloud_event,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self._handler = handler
        self._dead_letters = dead_letters
        self._processed = processed
        self.retry = retry
        self._sleep = sleep
        self._decode = decoder
        self._name = f"{group_id}:{topic.name}"

    async def process(self, record: ConsumedRecord) -> Outcome:
        """Take one record to an outcome. Raises only if the dead-letter publish fails."""
        try:
            envelope = self._decode(record, self.topic)
        except PERMANENT_ERRORS as error:
            await self._dead_letters.park(record, error, self.group_id)
            return Outcome.DEAD_LETTERED

        for attempt in range(1, self.retry.attempts + 1):
            try:
                # Inside the loop: a database that does not answer is a transient failure.
                if self._processed is not None and await self._processed.seen(
                    self._name, envelope.id
                ):
                    logger.info("duplicate event skipped", extra={"consumer": self._name})
                    return Outcome.DUPLICATE
                await self._handler(envelope)
                if self._processed is not None:
                    await self._processed.mark(self._name, envelope.id)
            except PERMANENT_ERRORS as error:
                await self._dead_letters.park(record, error, self.group_id)
                return Outcome.DEAD_LETTERED
            except Exception:
                logger.warning(
                    "processing failed, will retry",
                    exc_info=True,
                    extra={"consumer": self._name, "attempt": attempt},
                )
                if attempt < self.retry.attempts:
                    await self._sleep(self.retry.delay(attempt))
                continue
            return Outcome.HANDLED
        logger.error(
            "processing kept failing; record left uncommitted for redelivery",
            extra={"consumer": self._name, "attempts": self.retry.attempts},
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
        try:
            outcome = await consumer.process(message.raw_message)  # type: ignore[arg-type]
        except Exception:
            # Even the dead-letter publish failed. Never let the next record's commit
            # move past this one: seek back and try again after a pause.
            logger.exception("record could not be processed nor dead-lettered")
            await asyncio.sleep(consumer.retry.max_delay_s)
            outcome = Outcome.RETRY_LATER
        if outcome is Outcome.RETRY_LATER:
            await message.nack()  # seek back: the same record comes again
        else:
            await message.ack()

    broker.subscriber(
        *(topic_names or [consumer.topic.name]),
        group_id=consumer.group_id,
        ack_policy=AckPolicy.MANUAL,
        parser=_lenient_headers,
        decoder=_undecoded,
        **profile.consumer_options(),
    )(on_record)


async def _lenient_headers(
    record: ConsumerRecord[Any, Any],
    original: Callable[[ConsumerRecord[Any, Any]], Awaitable[StreamMessage[Any]]],
) -> StreamMessage[Any]:
    # FastStream decodes every header as strict UTF-8 before any handler runs, so a record
    # with a null or non-UTF-8 header would be dropped unseen. Parse a sanitised copy and
    # keep the original record, whose bad header the codec then reports to the DLQ.
    if all(_is_utf8(value) for _, value in record.headers):
        return await original(record)
    sanitised = dataclasses.replace(
        record, headers=[(n, v if _is_utf8(v) else b"") for n, v in record.headers]
    )
    if hasattr(record, "consumer"):
        sanitised.consumer = record.consumer
    message = await original(sanitised)
    message.raw_message = record
    return message


def _is_utf8(value: bytes | None) -> bool:
    if value is None:
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _undecoded(message: StreamMessage[Any]) -> Any:
    # The handler decodes with the contracts codec; FastStream's own JSON decoding would
    # fail on a poison record before the dead-letter logic could see it.
    return message.body
