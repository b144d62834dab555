"""Use cases of the feature service; dependencies are parameters (ports), wired in main.

The path of a record: the handler *admits* it (one SQL transaction: store the record,
mark its customer pending) and returns, so Kafka commits it. The :class:`Materializer`
writes pending customers to the feature stores in micro-batches: one offline append and
one online write for up to ``max_customers`` customers, then one FeaturesMaterialized.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from churn_features.domain import (
    ActivityRecord,
    CustomerHistory,
    FeatureRow,
    OnlineFeatures,
)
from feature.adapters.feature_store import ThreadedFeatureStore
from feature.adapters.metrics import FeatureMetrics
from feature.domain.materialization import (
    Admission,
    AdmissionOutcome,
    LatenessPolicy,
    PendingCustomer,
    materialization_summary,
    prune_horizons,
    rows_to_write,
)
from mlops_contracts import CustomerActivityRecorded, Envelope, Event, FeaturesMaterialized
from service_kit import UnprocessableEvent, UnprocessableEvents

logger = logging.getLogger(__name__)


class ActivityLog(Protocol):
    """Port: retained activity records and pending customers (the service's database)."""

    policy: LatenessPolicy

    async def admit(self, record: ActivityRecord) -> Admission: ...
    async def admit_many(self, records: Sequence[ActivityRecord]) -> list[Admission]: ...
    async def claim(self, limit: int, lease: timedelta) -> list[PendingCustomer]: ...
    async def histories(self, customer_ids: Sequence[str]) -> dict[str, CustomerHistory]: ...
    async def settle(self, written: Sequence[PendingCustomer]) -> None: ...
    async def release(self, claimed: Sequence[PendingCustomer]) -> None: ...
    async def prune(self, horizons: Mapping[str, datetime]) -> int: ...


class FeatureStore(Protocol):
    """Port: the churn feature stores."""

    async def write(self, rows: Sequence[FeatureRow]) -> None: ...
    async def online(self, customer_ids: Sequence[str]) -> OnlineFeatures: ...


class Publisher(Protocol):
    """Port: publishes a contract event to its catalogue topic."""

    async def publish(self, event: Event, *, event_id: str | None = None) -> str: ...


class RecordTooLate(UnprocessableEvent):
    """A record older than the lateness policy allows: dead-lettered, features unchanged."""

    code = "record_too_late"


async def record_activities(
    events: Sequence[CustomerActivityRecorded], *, log: ActivityLog
) -> list[Admission]:
    """Admit activity records, each kept and its customer marked pending, or recognised
    as a duplicate (same record id), or refused as too late; one transaction."""
    return await log.admit_many([ActivityRecord.from_event(event) for event in events])


@dataclass(frozen=True)
class FeatureService:
    """The running service: the activity log records are admitted into, the stores, the
    background writer that materializes pending customers, and its metrics."""

    log: ActivityLog
    store: ThreadedFeatureStore
    materializer: Materializer
    metrics: FeatureMetrics

    async def on_activity(self, envelopes: Sequence[Envelope[CustomerActivityRecorded]]) -> None:
        """Admit a batch of ``customer.activity`` (the log deduplicates on record id in its
        own transaction) and wake the writer. Too-late records are refused by position
        (``UnprocessableEvents``): exactly those are dead-lettered, the rest of the batch
        counts as handled."""
        events = [envelope.data for envelope in envelopes]
        admissions = await record_activities(events, log=self.log)
        for admission in admissions:
            self.metrics.records.labels(admission.outcome.value).inc()
        if any(a.outcome is AdmissionOutcome.ACCEPTED for a in admissions):
            self.materializer.notify()
        too_late: dict[int, BaseException] = {}
        for position, (event, admission) in enumerate(zip(events, admissions, strict=True)):
            if admission.outcome is AdmissionOutcome.TOO_LATE:
                assert admission.newest_before is not None
                too_late[position] = RecordTooLate(
                    self.log.policy.refusal(
                        event.record_id, event.observed_at, admission.newest_before
                    )
                )
        if too_late:
            raise UnprocessableEvents(too_late)

    async def lookup(self, customer_ids: Sequence[str]) -> OnlineFeatures:
        """Current features of a batch of customers."""
        return await self.store.online(customer_ids)


def summary_event_id(claimed: Sequence[PendingCustomer]) -> str:
    """The FeaturesMaterialized event id of one write: derived from what was claimed."""
    work = sorted((customer.customer_id, customer.revision) for customer in claimed)
    return "features:" + hashlib.sha256(repr(work).encode()).hexdigest()[:32]


async def materialize_pending(
    *,
    log: ActivityLog,
    store: FeatureStore,
    publisher: Publisher,
    max_customers: int,
    lease: timedelta,
) -> tuple[int, FeaturesMaterialized | None]:
    """Write the rows of up to ``max_customers`` pending customers in one store write and
    publish its summary. Returns (customers claimed, summary or None).

    At-least-once: a crash before ``settle`` leaves the customers pending; the rows are
    then written again, identical, with a newer ``created``, which changes nothing.
    """
    claimed = await log.claim(max_customers, lease)
    if not claimed:
        return 0, None
    try:
        histories = await log.histories([customer.customer_id for customer in claimed])
        rows = rows_to_write(histories, claimed)
        await store.write(rows)
        summary = materialization_summary(rows, materialized_at=datetime.now(UTC))
        if summary is not None:
            # The id names the work, so a re-run after a crash before `settle` publishes
            # the same event id and consumers drop the repeat.
            await publisher.publish(summary, event_id=summary_event_id(claimed))
        await log.prune(prune_horizons(histories, log.policy))
        await log.settle(claimed)
    except BaseException:
        await asyncio.shield(log.release(claimed))
        raise
    return len(claimed), summary


class Materializer:
    """Writes pending customers to the stores in the background, in micro-batches.

    A first admitted record wakes it; it lingers ``interval`` so that a batch gathers,
    then drains everything pending. It also looks every ``recovery_interval`` for work
    left by a crash or by a replica whose lease ran out.
    """

    def __init__(
        self,
        *,
        log: ActivityLog,
        store: FeatureStore,
        publisher: Publisher,
        interval: float,
        max_customers: int,
        lease: timedelta,
        recovery_interval: float = 10.0,
        on_written: _WrittenCallback | None = None,
    ) -> None:
        self._log = log
        self._store = store
        self._publisher = publisher
        self._interval = interval
        self._max_customers = max_customers
        self._lease = lease
        self._recovery_interval = recovery_interval
        self._on_written = on_written
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Records were admitted: write them soon."""
        self._wake.set()

    async def start(self) -> None:
        """Start the background loop; it first writes whatever was left pending."""
        self._stop.clear()
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="feature-materializer")

    async def stop(self) -> None:
        """Stop the loop, letting a write in progress finish. What is still pending stays
        in the database and is written at the next start."""
        if self._task is None:
            return
        self._stop.set()
        self._wake.set()
        await self._task
        self._task = None

    async def drain(self) -> list[FeaturesMaterialized]:
        """Write every pending customer now (in batches); return the summaries."""
        summaries = []
        while True:
            started = time.perf_counter()
            claimed, summary = await materialize_pending(
                log=self._log,
                store=self._store,
                publisher=self._publisher,
                max_customers=self._max_customers,
                lease=self._lease,
            )
            if summary is not None:
                summaries.append(summary)
                if self._on_written is not None:
                    self._on_written(summary, time.perf_counter() - started)
            if claimed < self._max_customers or self._stop.is_set():
                return summaries

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._recovery_interval)
            self._wake.clear()
            # Linger so that a micro-batch gathers; a stop cuts it short.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._interval)
            if self._stop.is_set():
                return
            try:
                await self.drain()
            except Exception:
                logger.exception("writing features failed; the customers stay pending")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=1.0)


class _WrittenCallback(Protocol):
    def __call__(self, summary: FeaturesMaterialized, seconds: float) -> None: ...
