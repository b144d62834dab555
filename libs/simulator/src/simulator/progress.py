"""Progress lines on long runs and the final summary.

On a terminal the progress is one line rewritten in place; elsewhere (logs, ``make demo``
narration, CI) a plain line every ``interval_s`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from simulator.clock import Clock
from simulator.streaming import StopReason, StreamStats

_CLEAR_LINE = "\r\x1b[K"


class ProgressReporter:
    """Prints what a run has sent, how fast, and what went wrong so far."""

    def __init__(
        self,
        stream: IO[str],
        clock: Clock,
        stats: StreamStats,
        *,
        interval_s: float = 2.0,
        tty: bool | None = None,
        enabled: bool = True,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._stats = stats
        self._interval_s = interval_s
        self._tty = stream.isatty() if tty is None else tty
        self._enabled = enabled
        self._started = clock.monotonic()
        self._phase = ""
        self._detail: Callable[[], str] = str
        self._last_at = self._started
        self._last_sent = 0
        self._open_line = False

    def begin_phase(self, name: str, detail: Callable[[], str] | None = None) -> None:
        """Label the following lines (``history``, ``live``); ``detail`` adds phase-specific
        text to each line (history progress, active drifts)."""
        self._end_line()
        self._phase = name
        self._detail = detail if detail is not None else str

    def update(self, *, force: bool = False) -> None:
        """Print a progress line if ``interval_s`` has passed since the last one."""
        now = self._clock.monotonic()
        if not self._enabled or (not force and now - self._last_at < self._interval_s):
            return
        rate = (self._stats.sent - self._last_sent) / max(now - self._last_at, 1e-9)
        self._last_at, self._last_sent = now, self._stats.sent
        line = format_progress(self._phase, now - self._started, self._stats, rate)
        detail = self._detail()
        if detail:
            line = f"{line} | {detail}"
        if self._tty:
            self._stream.write(_CLEAR_LINE + line)
            self._open_line = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def note(self, message: str) -> None:
        """A message of its own line (a retry, a warning), not overwritten on a terminal."""
        self._end_line()
        self._stream.write(message + "\n")
        self._stream.flush()

    def finish(self) -> None:
        """End the in-place line so what follows starts on a fresh one."""
        self._end_line()

    def _end_line(self) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._stream.flush()
            self._open_line = False


def format_progress(phase: str, elapsed_s: float, stats: StreamStats, rate: float) -> str:
    """``live   12.0s sent 2,400 ok 2,398 dup 2 rej 0 | 200 rec/s | retries 0 | labels ...``."""
    churned = f" ({stats.churned_labels / stats.labels:.0%} churned)" if stats.labels else ""
    return (
        f"{phase:<7} {elapsed_s:7.1f}s  sent {stats.sent:,}  accepted {stats.accepted:,}  "
        f"dup {stats.duplicates:,}  rejected {stats.rejected:,}  {rate:,.0f} rec/s  "
        f"retries {stats.retries:,}  labels {stats.labels:,}{churned}"
    )


def format_summary(
    stats: StreamStats,
    *,
    elapsed_s: float,
    reason: StopReason | str,
    extra: tuple[str, ...] = (),
) -> str:
    """The end-of-run report: totals, average rate, the first rejections."""
    rate = stats.sent / elapsed_s if elapsed_s > 0 else 0.0
    churned = (
        f", {stats.churned_labels:,} churned ({stats.churned_labels / stats.labels:.1%})"
        if stats.labels
        else ""
    )
    lines = [
        f"simulate: {reason} after {elapsed_s:.1f} s",
        f"  records   {stats.sent:,} sent in {stats.batches:,} batches: {stats.accepted:,} "
        f"accepted, {stats.duplicates:,} duplicates, {stats.rejected:,} rejected",
        f"  kinds     {stats.activity:,} activity, {stats.labels:,} labels{churned}",
        f"  pace      {rate:,.1f} records/s on average, {stats.retries:,} retries",
        *(f"  {line}" for line in extra),
    ]
    if stats.rejections:
        lines.append("  first rejected records:")
        lines.extend(f"    {rejection}" for rejection in stats.rejections)
    return "\n".join(lines)
