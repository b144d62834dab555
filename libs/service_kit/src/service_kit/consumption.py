"""At-least-once, idempotent consumption of contract events with dead letters and retries.

The decision for one record lives in :meth:`EventConsumer.process`, free of FastStream, so
unit tests drive it with fakes; :func:`subscribe` adapts it to a FastStream subscriber
that commits only after the record was handled or dead-lettered.
"""

import asyncio
import dataclasses
import enum
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from mlops_contracts import ContractError, Envelope, TopicSpec, decode
from service_kit.dead_letters import ConsumedRecord, DeadLetters
from service_kit.idempotency import ProcessedEvents
from service_kit.offset_commits import CoalescingConsumer
from service_kit.settings import KafkaClientProfile

logger = logging.getLogger(__name__)

EventHandler = Callable[[Envelope[Any]], Awaitable[None]]
BatchHandler = Callable[[Sequence[Envelope[Any]]], Awaitable[None]]
RecordDecoder = Callable[[ConsumedRecord, TopicSpec], Envelope[Any]]


class UnprocessableEvent(Exception):
    """Raised by a handler for an event that can never be processed (a deterministic
    failure): the record goes to the dead-letter topic and the consumer moves on."""


class UnprocessableEvents(UnprocessableEvent):
    """Raised by a batch handler that processed its batch except some events: those are
    dead-lettered with their own error, the rest count as handled (no re-run)."""

    def __init__(self, rejected: Mapping[int, BaseException]) -> None:
        super().__init__(f"{len(rejected)} event(s) of the batch could not be processed")
        self.rejected = dict(rejected)
        """Position in the batch -> why that event can never be processed."""


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
    except (ValueError, RecursionError) as error:  # bad UTF-8/JSON, absurd nesting
        raise UnprocessableEvent(f"record value is not usable JSON: {error}") from error
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


def one_at_a_time(handler: EventHandler) -> BatchHandler:
    """A batch handler that hands the events to ``handler`` one by one, in order."""

    async def each(envelopes: Sequence[Envelope[Any]]) -> None:
        rejected: dict[int, BaseException] = {}
        for position, envelope in enumerate(envelopes):
            try:
                await handler(envelope)
            except PERMANENT_ERRORS as error:  # the others still get their turn, once
                rejected[position] = error
        if rejected:
            raise UnprocessableEvents(rejected)

    return each


class EventConsumer:
    """Decodes, de-duplicates, handles, dead-letters and retries one topic's records, a
    batch at a time (a single record is a batch of one).

    A poison record is dead-lettered on its own; when the handler rejects a batch as
    unprocessable, the batch is handled again one event at a time so that only the
    guilty events are dead-lettered.
    """

    def __init__(
        self,
        *,
        topic: TopicSpec,
        group_id: str,
        handler: BatchHandler,
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
        """Take one record to an outcome (see :meth:`process_batch`)."""
        return (await self.process_batch([record]))[0]

    async def process_batch(self, records: Sequence[ConsumedRecord]) -> list[Outcome]:
        """Take every record to an outcome, in order. A failing dead-letter publish is
        retried like any transient failure (handled events stay handled); RETRY_LATER
        means the record must be redelivered."""
        outcomes: list[Outcome | None] = [None] * len(records)
        decoded: list[tuple[int, Envelope[Any]]] = []
        for index, record in enumerate(records):
            try:
                decoded.append((index, self._decode(record, self.topic)))
            except Exception as error:  # decoding is deterministic: it fails every time
                await self._dead_letters.park(record, error, self.group_id)
                outcomes[index] = Outcome.DEAD_LETTERED

        for attempt in range(1, self.retry.attempts + 1):
            try:
                # Inside the loop: a database that does not answer is a transient failure.
                pending = await self._not_yet_processed(decoded, outcomes)
                if pending:
                    await self._handle(pending, records, outcomes)
            except Exception:  # _handle dead-letters permanent failures itself
                logger.warning(
                    "processing failed, will retry",
                    exc_info=True,
                    extra={"consumer": self._name, "attempt": attempt},
                )
                if attempt < self.retry.attempts:
                    await self._sleep(self.retry.delay(attempt))
                continue
            return [outcome or Outcome.HANDLED for outcome in outcomes]
        logger.error(
            "processing kept failing; records left uncommitted for redelivery",
            extra={"consumer": self._name, "attempts": self.retry.attempts},
        )
        return [outcome or Outcome.RETRY_LATER for outcome in outcomes]

    async def _not_yet_processed(
        self, decoded: list[tuple[int, Envelope[Any]]], outcomes: list[Outcome | None]
    ) -> list[tuple[int, Envelope[Any]]]:
        undecided = [(i, envelope) for i, envelope in decoded if outcomes[i] is None]
        seen: set[str] = set()
        if self._processed is not None and undecided:
            seen = await self._processed.seen_many(self._name, [e.id for _, e in undecided])
        pending = []
        for index, envelope in undecided:
            if envelope.id in seen:
                outcomes[index] = Outcome.DUPLICATE
            else:
                seen.add(envelope.id)  # a repeat inside this batch is a duplicate too
                pending.append((index, envelope))
        if len(pending) < len(undecided):
            logger.info(
                "duplicate events skipped",
                extra={"consumer": self._name, "duplicates": len(undecided) - len(pending)},
            )
        return pending

    async def _handle(
        self,
        pending: list[tuple[int, Envelope[Any]]],
        records: Sequence[ConsumedRecord],
        outcomes: list[Outcome | None],
    ) -> None:
        try:
            await self._handler([envelope for _, envelope in pending])
        except UnprocessableEvents as partial:
            rejected = {pending[p][0]: error for p, error in partial.rejected.items()}
        except PERMANENT_ERRORS as error:
            if len(pending) == 1:
                rejected = {pending[0][0]: error}
            else:
                for single in pending:  # isolate the guilty events, each with its reason
                    await self._handle([single], records, outcomes)
                return
        else:
            rejected = {}
        # Record what was handled before dead-lettering: if a dead-letter publish fails
        # and the batch is retried, the handled events are not run again.
        handled = [(i, envelope) for i, envelope in pending if i not in rejected]
        await self._mark([envelope for _, envelope in handled])
        for index, _ in handled:
            outcomes[index] = Outcome.HANDLED
        for index, reason in rejected.items():
            await self._dead_letters.park(records[index], reason, self.group_id)
            outcomes[index] = Outcome.DEAD_LETTERED

    async def _mark(self, envelopes: Sequence[Envelope[Any]]) -> None:
        if self._processed is not None:
            await self._processed.mark_many(self._name, [e.id for e in envelopes])


BATCH_WAIT_MS = 50
"""Longest poll of an idle batch consumer, by default: how often it wakes with nothing to
do (a poll returns as soon as any record has arrived, whatever this is)."""


def subscribe(
    broker: KafkaBroker,
    consumer: EventConsumer,
    profile: KafkaClientProfile,
    *,
    topic_names: Collection[str] | None = None,
    max_batch: int = 1,
    max_wait_ms: int = BATCH_WAIT_MS,
    request_path: bool = False,
    linger_ms: int = 0,
) -> None:
    """Register ``consumer`` on ``broker`` with manual commits after processing.

    ``max_batch`` > 1 hands the consumer up to that many records at once: whatever has
    arrived, as soon as any has. ``max_wait_ms`` is the longest poll of an idle consumer;
    the next poll starts at once (see ``_poll_again_at_once``). A batch consumer built as a
    :class:`CoalescingConsumer` (see ``coalesce_commits``) commits what it processed at
    most once per its interval; one record at a time commits each.
    ``topic_names`` overrides the subscribed topic names (a gateway's own reply topic); by
    default it is the consumer's catalogue topic. ``request_path``: a synchronous caller
    waits on these records (the profile's request-path fetch wait). ``linger_ms``: for a
    consumer nobody waits on, the next poll after a batch waits until this long after it,
    so a steady stream comes in fewer, larger batches (per-batch costs paid less often).
    """
    if max_wait_ms < 1:
        # A poll of 0 ms returns at once without yielding to the event loop, and the poll
        # loop starts the next at once: nothing else (HTTP, heartbeats) would ever run.
        raise ValueError(f"max_wait_ms must be at least 1, got {max_wait_ms}")

    async def on_records(message: Any) -> None:
        # The message itself, from _as_message: a `KafkaMessage` (Context) parameter is
        # resolved in a worker thread by FastDepends, a thread hop per batch.
        raw = message.raw_message
        # A batch arrives as a tuple from Kafka, as a list from the in-memory test broker
        # (whose nack only understands tuples).
        if isinstance(raw, list):
            message.raw_message = raw = tuple(raw)
        records = list(raw) if isinstance(raw, tuple) else [raw]
        try:
            outcomes = await consumer.process_batch(records)
        except Exception:
            # Even the dead-letter publish failed. Never let the next commit move past
            # these records: seek back and try again after a pause.
            logger.exception("records could not be processed nor dead-lettered")
            await asyncio.sleep(consumer.retry.max_delay_s)
            outcomes = [Outcome.RETRY_LATER]
        if Outcome.RETRY_LATER in outcomes:
            await message.nack()  # seek back to the earliest record: they come again
        elif max_batch > 1 and isinstance(message.consumer, CoalescingConsumer):
            message.consumer.processed(records)
            await message.consumer.commit_processed()
        else:
            await message.ack()

    batching: dict[str, Any] = (
        {"batch": True, "max_records": max_batch, "batch_timeout_ms": max_wait_ms}
        if max_batch > 1
        else {}
    )
    subscriber = broker.subscriber(
        *(topic_names or [consumer.topic.name]),
        group_id=consumer.group_id,
        ack_policy=AckPolicy.MANUAL,
        parser=_lenient_headers,
        decoder=_as_message,
        **batching,
        **profile.consumer_options(request_path=request_path),
    )
    subscriber(on_records)
    if max_batch > 1:
        _poll_again_at_once(subscriber, linger_ms)


def _poll_again_at_once(subscriber: Any, linger_ms: int = 0) -> None:
    """FastStream's batch subscriber sleeps its batch timeout after an empty poll, so a
    record arriving meanwhile waits up to that long on top of the broker's fetch wait: on
    the request path (5 ms pauses at the predictors and at the gateway's replies) a gateway
    request at 50/s took 17.9 ms p50 against a bare aiokafka echo's 10.8. aiokafka's
    ``getmany`` already waits up to the timeout for the first record and returns as soon as
    any has arrived, so poll again at once, as a bare aiokafka consumer does: an idle
    consumer still wakes once per timeout."""
    if not (hasattr(subscriber, "get_msg") and hasattr(subscriber, "batch_timeout_ms")):
        raise TypeError(f"not a FastStream Kafka batch subscriber: {subscriber!r}")
    timeout_ms: int = subscriber.batch_timeout_ms
    max_records: int | None = subscriber.max_records
    linger_s = linger_ms / 1000
    next_poll = 0.0

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[Any, Any], ...]:
        nonlocal next_poll
        if isinstance(consumer, CoalescingConsumer):
            await consumer.commit_processed()  # an idle consumer's last records, when due
        if linger_s and (pause := next_poll - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        records = tuple(itertools.chain.from_iterable(batches.values()))
        if records and linger_s:
            next_poll = time.monotonic() + linger_s
        return records

    subscriber.get_msg = get_msg


async def _lenient_headers(
    raw: ConsumerRecord[Any, Any] | Sequence[ConsumerRecord[Any, Any]],
    original: Callable[[Any], Awaitable[StreamMessage[Any]]],
) -> StreamMessage[Any]:
    # FastStream decodes every header as strict UTF-8 before any handler runs, so a record
    # with a null or non-UTF-8 header would be dropped unseen. Parse sanitised copies and
    # keep the original records, whose bad header the codec then reports to the DLQ.
    records: list[ConsumerRecord[Any, Any]] = list(raw) if isinstance(raw, (tuple, list)) else [raw]
    if all(_is_utf8(value) for record in records for _, value in record.headers):
        return await original(raw)
    sanitised = [_sanitised(record) for record in records]
    if isinstance(raw, tuple):
        message = await original(tuple(sanitised))
    elif isinstance(raw, list):
        message = await original(sanitised)
    else:
        message = await original(sanitised[0])
    message.raw_message = raw
    return message


def _sanitised(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    copy = dataclasses.replace(
        record, headers=[(n, v if _is_utf8(v) else b"") for n, v in record.headers]
    )
    if hasattr(record, "consumer"):
        copy.consumer = record.consumer
    return copy


def _is_utf8(value: bytes | None) -> bool:
    if value is None:
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _as_message(message: StreamMessage[Any]) -> StreamMessage[Any]:
    # The handler gets the message (records, ack, nack) and decodes with the contracts
    # codec; FastStream's own JSON decoding would fail on a poison record before the
    # dead-letter logic could see it.
    return message
