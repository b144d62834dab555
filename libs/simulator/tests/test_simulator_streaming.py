"""Rate control and stop conditions, on a manual clock (no real sleeping)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import timedelta

import pytest

from simulator import (
    BatchOutcome,
    ManualClock,
    Record,
    Simulation,
    SimulationConfig,
    StopAfter,
    StopReason,
    StreamStats,
    stream_records,
)
from simulator.progress import ProgressReporter, format_summary
from simulator.rate import TokenBucket
from simulator.records import parse_time


class CountingSink:
    """Takes everything; optionally takes ``latency_s`` of (manual) time per batch."""

    max_batch: int | None = None

    def __init__(self, clock: ManualClock, latency_s: float = 0.0) -> None:
        self.clock = clock
        self.latency_s = latency_s
        self.batches: list[list[Record]] = []
        self.sent_at: list[float] = []

    async def send(self, records: Sequence[Record]) -> BatchOutcome:
        self.clock.advance(self.latency_s)
        self.batches.append(list(records))
        self.sent_at.append(self.clock.monotonic())
        return BatchOutcome(accepted=len(records))

    async def aclose(self) -> None:
        return None


def live(clock: ManualClock, customers: int = 500) -> Simulation:
    return Simulation(SimulationConfig(customers=customers, seed=1))


def test_token_bucket_refills_at_the_rate_up_to_its_capacity() -> None:
    clock = ManualClock()
    bucket = TokenBucket(100.0, capacity=50.0, clock=clock.monotonic)
    assert bucket.available() == 0
    assert bucket.wait_time(10) == pytest.approx(0.1)
    clock.advance(0.1)
    bucket.take(10)
    clock.advance(10.0)
    assert bucket.available() == 50.0  # a long pause buys at most one burst
    with pytest.raises(ValueError, match="not enough tokens"):
        bucket.take(51)


@pytest.mark.parametrize(
    ("rate", "max_batch", "seconds"), [(200.0, 500, 60), (5000.0, 100, 6), (3.0, 500, 60)]
)
async def test_live_stream_keeps_the_target_rate(rate: float, max_batch: int, seconds: int) -> None:
    clock = ManualClock()
    sink = CountingSink(clock)
    stats = StreamStats()
    simulation = live(clock)
    reason = await stream_records(
        simulation.live(clock.now),
        sink,
        clock=clock,
        stats=stats,
        rate=rate,
        max_batch=max_batch,
        stop_after=StopAfter(seconds=seconds),
    )
    assert reason is StopReason.DURATION
    assert clock.elapsed == pytest.approx(seconds, abs=0.3)
    assert stats.sent == pytest.approx(rate * seconds, rel=0.02, abs=2)
    assert max(len(batch) for batch in sink.batches) <= max_batch
    # Evenly paced: no window of a tenth of the run is more than 5 % off the rate.
    width = seconds / 10
    for index in range(10):
        start = index * width
        window = sum(
            len(b)
            for b, t in zip(sink.batches, sink.sent_at, strict=True)
            if start < t <= start + width
        )
        assert window == pytest.approx(rate * width, rel=0.05, abs=3)
    # Records are stamped with the (manual) wall clock, never ahead of it.
    assert parse_time(sink.batches[-1][-1]["observed_at"]) <= clock.now()


async def test_slow_answers_are_caught_up_without_exceeding_the_rate() -> None:
    clock = ManualClock()
    sink = CountingSink(clock, latency_s=0.7)  # each request takes longer than a flush
    stats = StreamStats()
    await stream_records(
        live(clock).live(clock.now),
        sink,
        clock=clock,
        stats=stats,
        rate=200.0,
        max_batch=500,
        stop_after=StopAfter(seconds=60.0),
    )
    assert stats.sent == pytest.approx(200 * 60, rel=0.03)
    assert stats.sent <= 200 * 61


async def test_a_paced_kind_keeps_the_rate_and_the_others_ride_along() -> None:
    # A business of 500 customers at 100 activity records/s: a round every 5 s, its labels
    # due 1 s after the record that decides them.
    clock = ManualClock()
    simulation = Simulation(
        SimulationConfig(customers=500, seed=1, label_delay=timedelta(seconds=1))
    )
    sink = CountingSink(clock)
    stats = StreamStats()
    await stream_records(
        simulation.live(clock.now),
        sink,
        clock=clock,
        stats=stats,
        rate=100.0,
        max_batch=40,
        stop_after=StopAfter(seconds=60.0),
        paced=lambda record: record["kind"] == "activity",
    )
    assert stats.activity == pytest.approx(100 * 60, rel=0.02)
    assert stats.labels > 0.1 * stats.activity  # not counted against the rate
    assert max(len(batch) for batch in sink.batches) <= 40


class StallingSink(CountingSink):
    """Answers at once, except one answer every ``every`` batches that takes 3 s."""

    def __init__(self, clock: ManualClock, every: int) -> None:
        super().__init__(clock)
        self.every = every

    async def send(self, records: Sequence[Record]) -> BatchOutcome:
        self.latency_s = 3.0 if len(self.batches) % self.every == self.every - 1 else 0.0
        return await super().send(records)


@pytest.mark.parametrize(("catch_up_s", "kept"), [(1.0, False), (5.0, True)])
async def test_a_longer_catch_up_keeps_the_pace_through_stalls(
    catch_up_s: float, kept: bool
) -> None:
    clock = ManualClock()
    stats = StreamStats()
    await stream_records(
        live(clock).live(clock.now),
        StallingSink(clock, every=50),  # a 3 s stall every ~10 s of stream
        clock=clock,
        stats=stats,
        rate=200.0,
        stop_after=StopAfter(seconds=60.0),
        catch_up_s=catch_up_s,
    )
    assert stats.sent <= 200 * 61
    if kept:
        assert stats.sent == pytest.approx(200 * 60, rel=0.03)
    else:  # two seconds of every stall are lost for good
        assert stats.sent < 200 * 60 * 0.9


async def test_record_limit_and_exhaustion_stop_the_stream() -> None:
    clock = ManualClock()
    stats = StreamStats()
    reason = await stream_records(
        live(clock).live(clock.now),
        CountingSink(clock),
        clock=clock,
        stats=stats,
        rate=1000.0,
        stop_after=StopAfter(records=1234),
    )
    assert (reason, stats.sent) == (StopReason.RECORDS, 1234)

    simulation = Simulation(SimulationConfig(customers=30, seed=2))
    records = simulation.history(days=3, end=clock.now())
    sink = CountingSink(clock)
    stats = StreamStats()
    before = clock.elapsed
    reason = await stream_records(records, sink, clock=clock, stats=stats, max_batch=40)
    assert reason is StopReason.EXHAUSTED
    assert [len(b) for b in sink.batches][:2] == [40, 40]  # full batches, back to back
    assert stats.activity == 90
    assert stats.sent == stats.activity + stats.labels
    assert clock.elapsed == before  # history is not paced


async def test_a_stop_request_finishes_the_batch_in_flight() -> None:
    clock = ManualClock()
    sink = CountingSink(clock)
    stats = StreamStats()
    reason = await stream_records(
        live(clock).live(clock.now),
        sink,
        clock=clock,
        stats=stats,
        rate=100.0,
        stop_requested=lambda: len(sink.batches) >= 3,
    )
    assert reason is StopReason.INTERRUPTED
    assert len(sink.batches) == 3
    assert stats.sent == sum(len(b) for b in sink.batches)


def test_progress_lines_plain_and_on_a_terminal() -> None:
    clock = ManualClock()
    stats = StreamStats(sent=400, accepted=398, duplicates=2, labels=50, churned_labels=10)
    plain = io.StringIO()
    reporter = ProgressReporter(plain, clock, stats, interval_s=2.0, tty=False)
    reporter.begin_phase("live", lambda: "covariate:usage_minutes 50%")
    clock.advance(1.0)
    reporter.update()
    assert plain.getvalue() == ""  # not yet 2 s
    clock.advance(1.0)
    reporter.update()
    line = plain.getvalue()
    assert line.count("\n") == 1
    for part in (
        "live",
        "sent 400",
        "accepted 398",
        "dup 2",
        "200 rec/s",
        "labels 50 (20% churned)",
    ):
        assert part in line
    assert line.rstrip().endswith("| covariate:usage_minutes 50%")

    terminal = io.StringIO()
    reporter = ProgressReporter(terminal, clock, stats, interval_s=2.0, tty=True)
    clock.advance(2.0)
    reporter.update()
    clock.advance(2.0)
    reporter.update()
    assert terminal.getvalue().count("\r\x1b[K") == 2
    assert "\n" not in terminal.getvalue()  # one line, rewritten
    reporter.note("ingest: 503; retrying")
    reporter.finish()
    assert terminal.getvalue().endswith("\ningest: 503; retrying\n")


def test_summary_names_totals_rate_and_reason() -> None:
    stats = StreamStats(sent=1000, accepted=990, duplicates=5, rejected=5, retries=2, batches=4)
    stats.activity, stats.labels, stats.churned_labels = 900, 100, 20
    text = format_summary(stats, elapsed_s=10.0, reason=StopReason.DURATION, extra=("x y",))
    assert "duration reached after 10.0 s" in text
    assert "1,000 sent in 4 batches: 990 accepted, 5 duplicates, 5 rejected" in text
    assert "100 labels, 20 churned (20.0%)" in text
    assert "100.0 records/s on average, 2 retries" in text
    assert text.endswith("  x y")
