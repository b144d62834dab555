"""Use cases of ingest: accept a batch of raw records (HTTP) or one raw record (Kafka)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from ingest.domain.records import FieldError, Verdict, validate_record
from mlops_contracts import Envelope, Event
from service_kit import ProjectCatalog, UnprocessableEvent

Status = Literal["accepted", "duplicate", "rejected"]


class EventSink(Protocol):
    """Where validated events go (the Kafka publisher in production)."""

    async def publish(self, event: Event, *, event_id: str | None = None) -> str: ...


class RecordLedger(Protocol):
    """Which record ids were already accepted (durable), so a resent batch adds nothing."""

    async def known(self, record_ids: Collection[str]) -> set[str]: ...
    async def remember(self, record_ids: Collection[str]) -> None: ...


@dataclass(frozen=True)
class RecordResult:
    """What happened to one record of a batch."""

    index: int
    record_id: str | None
    status: Status
    errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True)
class BatchOutcome:
    """What happened to a batch, record by record."""

    results: list[RecordResult] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status == status)


def event_id_for(record_id: str) -> str:
    """The CloudEvents id of a record's event: derived from the record id, so even a
    re-published record is recognised as a duplicate by every consumer downstream."""
    return f"ingest:{record_id}"


class IngestRecords:
    """Validate, de-duplicate on record_id, publish the valid records as events."""

    def __init__(
        self,
        *,
        sink: EventSink,
        ledger: RecordLedger,
        clock: Callable[[], datetime],
        max_clock_skew: timedelta,
        projects: ProjectCatalog,
    ) -> None:
        self._sink = sink
        self._ledger = ledger
        self._clock = clock
        self._max_clock_skew = max_clock_skew
        self._projects = projects

    async def __call__(self, raw_records: Sequence[object]) -> BatchOutcome:
        now = self._clock()
        verdicts = [
            validate_record(
                index,
                raw,
                now=now,
                max_clock_skew=self._max_clock_skew,
                projects=self._projects,
            )
            for index, raw in enumerate(raw_records)
        ]
        valid = [v for v in verdicts if v.event is not None and v.record_id is not None]
        already = await self._ledger.known({v.record_id for v in valid if v.record_id})
        fresh: dict[str, Verdict] = {}
        results: list[RecordResult] = []
        for verdict in verdicts:
            if verdict.event is None or verdict.record_id is None:
                results.append(
                    RecordResult(verdict.index, verdict.record_id, "rejected", verdict.errors)
                )
            elif verdict.record_id in already or verdict.record_id in fresh:
                results.append(RecordResult(verdict.index, verdict.record_id, "duplicate"))
            else:
                fresh[verdict.record_id] = verdict
                results.append(RecordResult(verdict.index, verdict.record_id, "accepted"))
        # Concurrent sends let the producer batch them; all are acknowledged before the
        # ids are remembered, so a failure part-way leaves them to be sent again (and the
        # derived event ids make the re-sent ones harmless downstream).
        await asyncio.gather(
            *(
                self._sink.publish(verdict.event, event_id=event_id_for(record_id))
                for record_id, verdict in fresh.items()
                if verdict.event is not None
            )
        )
        await self._ledger.remember(list(fresh))
        return BatchOutcome(results)

    async def on_raw_record(self, envelope: Envelope[Any]) -> None:
        """One record of the raw-records topic; one that fails validation is dead-lettered
        with every field error in its reason."""
        outcome = await self([envelope.data])
        rejected = [r for r in outcome.results if r.status == "rejected"]
        if rejected:
            reasons = "; ".join(f"{e.field}: {e.message}" for e in rejected[0].errors)
            raise UnprocessableEvent(f"invalid record: {reasons}")
