"""At-least-once, idempotent consumption of contract events with dead letters and retries.

The decision for each record of a polled batch lives in :meth:`EventConsumer.process_batch`,
free of any Kafka client, so unit tests drive it with fakes; ``service_kit.kafka`` polls
the records and commits only those taken to an outcome (handled, duplicate or
dead-lettered).
"""

import asyncio
import enum
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError

from mlops_contracts import ContractError, Envelope, TopicSpec, decode
from service_kit.dead_letters import ConsumedRecord, DeadLetters
from service_kit.idempotency import ProcessedEvents

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


class ConsumerMetrics:
    """What every subscription did, in the service's registry: records by outcome (per
    record topic and consumer group) and the seconds each batch took to handle."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "mlops_consumed_records",
            "Records consumed, by outcome (handled, duplicate, dead_lettered, retry_later).",
            ["topic", "group", "outcome"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "mlops_consume_batch_seconds",
            "Seconds to take one polled batch to its outcomes.",
            ["topic", "group"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )


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
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self._handler = handler
        self._dead_letters = dead_letters
        self._processed = processed
        self.retry = retry
        self._sleep = sleep
        self._decode = decoder
        self.name = f"{group_id}:{topic.name}"
        """Where logs and processed ids name this consumer."""
        self._metrics = metrics
        self._counters: dict[tuple[str, Outcome], Any] = {}
        """The counter of each (record topic, outcome), resolved once."""

    async def process(self, record: ConsumedRecord) -> Outcome:
        """Take one record to an outcome (see :meth:`process_batch`)."""
        return (await self.process_batch([record]))[0]

    async def process_batch(self, records: Sequence[ConsumedRecord]) -> list[Outcome]:
        """Take every record to an outcome, in order. A failing dead-letter publish is
        retried like any transient failure (handled events stay handled); RETRY_LATER
        means the record must be redelivered."""
        started = time.perf_counter()
        outcomes = await self._outcomes_of(records)
        if self._metrics is not None:
            self._count(records, outcomes, time.perf_counter() - started)
        return outcomes

    def _count(
        self, records: Sequence[ConsumedRecord], outcomes: Sequence[Outcome], seconds: float
    ) -> None:
        assert self._metrics is not None
        self._metrics.batch_seconds.labels(self.topic.name, self.group_id).observe(seconds)
        counts: dict[tuple[str, Outcome], int] = {}
        for record, outcome in zip(records, outcomes, strict=True):
            key = (record.topic, outcome)
            counts[key] = counts.get(key, 0) + 1
        for key, count in counts.items():
            counter = self._counters.get(key)
            if counter is None:
                topic, outcome = key
                counter = self._counters[key] = self._metrics.records.labels(
                    topic, self.group_id, outcome.value
                )
            counter.inc(count)

    async def _outcomes_of(self, records: Sequence[ConsumedRecord]) -> list[Outcome]:
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
                    extra={"consumer": self.name, "attempt": attempt},
                )
                if attempt < self.retry.attempts:
                    await self._sleep(self.retry.delay(attempt))
                continue
            return [outcome or Outcome.HANDLED for outcome in outcomes]
        logger.error(
            "processing kept failing; records left uncommitted for redelivery",
            extra={"consumer": self.name, "attempts": self.retry.attempts},
        )
        return [outcome or Outcome.RETRY_LATER for outcome in outcomes]

    async def _not_yet_processed(
        self, decoded: list[tuple[int, Envelope[Any]]], outcomes: list[Outcome | None]
    ) -> list[tuple[int, Envelope[Any]]]:
        undecided = [(i, envelope) for i, envelope in decoded if outcomes[i] is None]
        seen: set[str] = set()
        if self._processed is not None and undecided:
            seen = await self._processed.seen_many(self.name, [e.id for _, e in undecided])
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
                extra={"consumer": self.name, "duplicates": len(undecided) - len(pending)},
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
            await self._processed.mark_many(self.name, [e.id for e in envelopes])
