"""The streaming loop: pull records, pace them, batch them, hand them to a sink, count."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice

from simulator.clock import Clock
from simulator.rate import TokenBucket
from simulator.records import Record
from simulator.sinks import BatchOutcome, IngestRefused, RecordSink, RejectedRecord

MAX_SLEEP_S = 0.25
"""Longest single wait, so a stop request or the deadline is noticed quickly."""
KEPT_REJECTIONS = 5


class StopReason(StrEnum):
    """Why a phase ended."""

    EXHAUSTED = "all records sent"
    DURATION = "duration reached"
    RECORDS = "record count reached"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class StopAfter:
    """When a phase ends on its own (None: no limit)."""

    seconds: float | None = None
    records: int | None = None
    """Records sent in this phase (activity and labels)."""


@dataclass(slots=True)
class StreamStats:
    """Counts over a whole run (phases add up)."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    batches: int = 0
    activity: int = 0
    labels: int = 0
    churned_labels: int = 0
    rejections: list[RejectedRecord] = field(default_factory=list)
    """The first few rejected records, to show."""

    def add(self, batch: Sequence[Record], outcome: BatchOutcome) -> None:
        """Count one sent batch."""
        self.sent += len(batch)
        self.batches += 1
        self.accepted += outcome.accepted
        self.duplicates += outcome.duplicates
        self.rejected += outcome.rejected
        self.retries += outcome.retries
        for record in batch:
            if record["kind"] == "activity":
                self.activity += 1
            else:
                self.labels += 1
                self.churned_labels += record["churned"]
        room = KEPT_REJECTIONS - len(self.rejections)
        if room > 0:
            self.rejections.extend(outcome.rejections[:room])


async def stream_records(
    records: Iterator[Record],
    sink: RecordSink,
    *,
    clock: Clock,
    stats: StreamStats,
    rate: float | None = None,
    max_batch: int = 500,
    stop_after: StopAfter | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
    on_progress: Callable[[], None] = lambda: None,
    flush_interval_s: float = 0.2,
    catch_up_s: float = 1.0,
    paced: Callable[[Record], bool] | None = None,
) -> StopReason:
    """Send ``records`` to ``sink`` until they run out, a limit is reached or a stop is requested.

    With a ``rate`` (records/s) a token bucket paces the stream: every ``flush_interval_s`` or
    so a batch of what the bucket holds goes out (at most ``max_batch``), and after a slow
    answer it catches up by at most ``catch_up_s`` seconds' worth (a live business that must
    keep its pace on a busy machine wants more than the default second). Without a rate,
    full batches go out back to back, as fast as the sink takes them. A stop request is
    honoured between batches: the batch in flight is always finished.

    ``paced`` picks the records the rate counts (default: all of them); the others ride
    along free. A live business paces its activity records (one per customer and business
    day) and lets the labels come when they are due.
    """
    if max_batch < 1:
        raise ValueError("max_batch must be at least 1")
    limits = stop_after if stop_after is not None else StopAfter()
    started = clock.monotonic()
    deadline = started + limits.seconds if limits.seconds is not None else math.inf
    sent_before = stats.sent
    bucket: TokenBucket | None = None
    target = max_batch
    if rate is not None and rate > 0:
        target = min(max_batch, max(1, round(rate * flush_interval_s)))
        capacity = max(float(target), rate * catch_up_s)
        bucket = TokenBucket(rate, capacity=capacity, clock=clock.monotonic)
    while True:
        if stop_requested():
            return StopReason.INTERRUPTED
        now = clock.monotonic()
        if now >= deadline:
            return StopReason.DURATION
        limit = min(max_batch, sink.max_batch or max_batch)
        if limits.records is not None:
            remaining = limits.records - (stats.sent - sent_before)
            if remaining <= 0:
                return StopReason.RECORDS
            limit = min(limit, remaining)
        if bucket is not None:
            wait = bucket.wait_time(min(target, limit))
            if wait > 0:
                await clock.sleep(min(wait, MAX_SLEEP_S, deadline - now))
                on_progress()
                continue
            batch, counted = _pull(records, min(limit, bucket.whole_tokens()), limit, paced)
            bucket.take(counted)
        else:
            batch = list(islice(records, limit))
        if not batch:
            return StopReason.EXHAUSTED
        outcome = await sink.send(batch)
        stats.add(batch, outcome)
        if outcome.rejected == len(batch) and stats.accepted + stats.duplicates == 0:
            shown = "; ".join(str(r) for r in outcome.rejections[:3]) or "no details given"
            raise IngestRefused(
                f"ingest rejected every record of the first batch ({len(batch)}), so the "
                f"simulator and ingest disagree on the record contract. First errors: {shown}"
            )
        on_progress()


def _pull(
    records: Iterator[Record], allowed: int, limit: int, paced: Callable[[Record], bool] | None
) -> tuple[list[Record], int]:
    """Up to ``allowed`` paced records (every record when ``paced`` is None) and the free
    ones among them, at most ``limit`` in all; with the number of paced records pulled."""
    batch: list[Record] = []
    counted = 0
    while counted < allowed and len(batch) < limit:
        record = next(records, None)
        if record is None:
            break
        batch.append(record)
        counted += paced is None or paced(record)
    return batch, counted
