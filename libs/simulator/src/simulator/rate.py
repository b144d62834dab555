"""Rate control: a token bucket on a monotonic clock."""

from __future__ import annotations

from collections.abc import Callable

_EPSILON = 1e-6


class TokenBucket:
    """Tokens accrue at ``rate`` per second up to ``capacity``; sending a record costs one.

    The capacity bounds the catch-up burst after a stall (e.g. a slow ingest answer), so the
    long-run rate is ``rate`` and the short-run rate never exceeds it by more than a burst.
    """

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if capacity < 1:
            raise ValueError("capacity must be at least one token")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = 0.0
        self._updated = clock()

    def available(self) -> float:
        """Tokens available now."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return self._tokens

    def wait_time(self, amount: float) -> float:
        """Seconds until ``amount`` tokens are available (0 when they are)."""
        deficit = min(amount, self.capacity) - self.available()
        # Below a millionth of a token, float rounding could make a clock step too small to
        # register, and the caller would wait forever.
        return deficit / self.rate if deficit > _EPSILON else 0.0

    def take(self, amount: float) -> None:
        """Spend ``amount`` tokens (at most what is available)."""
        if amount > self.available() + _EPSILON:
            raise ValueError("not enough tokens")
        self._tokens = max(0.0, self._tokens - amount)

    def whole_tokens(self) -> int:
        """Whole tokens available now (a near-whole number counts as whole)."""
        return int(self.available() + _EPSILON)
