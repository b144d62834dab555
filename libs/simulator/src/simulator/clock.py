"""Time for the streaming loop: the system clock, or a manual one that tests advance."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds for pacing, wall time for record stamps, and a way to wait."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (pacing, timeouts)."""
        ...

    def now(self) -> datetime:
        """Current wall time, timezone-aware (record event times)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when slept on or advanced: rate control without real waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start if start is not None else datetime(2026, 1, 1, tzinfo=UTC)
        self.elapsed = 0.0
        """Seconds since the start."""

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed)

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.elapsed += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)  # still yield to the event loop, like a real sleep
