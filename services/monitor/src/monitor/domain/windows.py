"""Monitoring windows: event-time buckets of predictions, one per model version.

The window rule (see the README):

- A prediction belongs to the window of its model version whose bucket holds its
  ``predicted_at``: buckets are ``window_seconds`` long and aligned to the Unix epoch, so the
  window a prediction falls in never depends on arrival order, batching or restarts.
- The window id is derived from (model name, version, bucket start, length) only: a replay
  rebuilds the same id, and the emitted-window ledger keeps it from being emitted twice.
- A window closes when the watermark (the newest ``predicted_at`` seen, less the allowed
  lateness) passes its end, or, when the stream has gone quiet, when the wall clock does.
- At most ``max_rows`` predictions of a window are kept for the drift check: the ones with
  the smallest hash of their request id (a bottom-k sample). It is a uniform sample that
  does not depend on arrival order, and a redelivered prediction is kept only once.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SNAPSHOT_FORMAT = 1

FeatureRow = Mapping[str, float | str]


@dataclass(frozen=True)
class WindowKey:
    """Which window: a model version's event-time bucket."""

    model_name: str
    model_version: int
    start: datetime
    seconds: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    @property
    def window_id(self) -> str:
        """Deterministic, file- and URL-safe id, e.g. ``churn-v3-20261121T101500Z-60s``."""
        stamp = self.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{self.model_name}-v{self.model_version}-{stamp}-{self.seconds}s"


def bucket_start(at: datetime, seconds: int) -> datetime:
    """Start of the epoch-aligned bucket of ``seconds`` that holds ``at``."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: prediction times are timezone-aware")
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def window_key(model_name: str, model_version: int, at: datetime, seconds: int) -> WindowKey:
    """The window a prediction made at ``at`` by that model version belongs to."""
    return WindowKey(model_name, model_version, bucket_start(at, seconds), seconds)


def sample_rank(request_id: str) -> int:
    """Stable pseudo-random rank of a prediction (same on every process and run)."""
    return int.from_bytes(hashlib.blake2b(request_id.encode(), digest_size=8).digest(), "big")


@dataclass
class OpenWindow:
    """A window being filled: every prediction counted, a bottom-k sample kept."""

    key: WindowKey
    max_rows: int
    count: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    _heap: list[tuple[int, str, dict[str, float | str]]] = field(default_factory=list)
    _kept: set[str] = field(default_factory=set)

    def add(self, request_id: str, at: datetime, features: FeatureRow) -> None:
        """Count the prediction; keep its features if it ranks in the sample."""
        self.count += 1
        self.first_at = at if self.first_at is None else min(self.first_at, at)
        self.last_at = at if self.last_at is None else max(self.last_at, at)
        self.keep(request_id, features)

    def keep(self, request_id: str, features: FeatureRow) -> None:
        """Put a prediction in the sample if it ranks there (not counted: ``add`` counts)."""
        if request_id in self._kept:
            return  # a redelivery: the sample holds it already
        rank = sample_rank(request_id)
        entry = (-rank, request_id, dict(features))  # max-heap of ranks via negation
        if len(self._heap) < self.max_rows:
            heapq.heappush(self._heap, entry)
            self._kept.add(request_id)
        elif -self._heap[0][0] > rank:
            _, dropped, _ = heapq.heapreplace(self._heap, entry)
            self._kept.discard(dropped)
            self._kept.add(request_id)

    def kept(self) -> list[tuple[str, dict[str, float | str]]]:
        """(request id, features) of the sampled predictions."""
        return [(request_id, row) for _, request_id, row in self._heap]

    def sample(self) -> list[dict[str, float | str]]:
        """The kept feature rows, in rank order (deterministic for the same predictions)."""
        return [row for _, _, row in sorted(self._heap, key=lambda e: (-e[0], e[1]))]


@dataclass(frozen=True)
class ClosedWindow:
    """A window whose predictions are all in: what the drift check reads."""

    key: WindowKey
    count: int
    rows: list[dict[str, float | str]]
    first_at: datetime
    last_at: datetime


@dataclass
class WindowBook:
    """The open windows of every model version, and the watermark that closes them."""

    seconds: int
    max_rows: int
    lateness: timedelta
    watermark: datetime | None = None
    """Newest prediction time seen."""
    late: int = 0
    """Predictions that arrived for a window already closed (dropped)."""
    _open: dict[WindowKey, OpenWindow] = field(default_factory=dict)
    _closed_before: datetime | None = None
    """Windows ending at or before this have been closed: their stragglers are late."""

    def add(
        self,
        *,
        model_name: str,
        model_version: int,
        request_id: str,
        at: datetime,
        features: FeatureRow,
    ) -> bool:
        """Put a prediction in its window; False when that window is already closed."""
        key = window_key(model_name, model_version, at, self.seconds)
        if self._closed_before is not None and key.end <= self._closed_before:
            self.late += 1
            return False
        window = self._open.get(key)
        if window is None:
            window = self._open[key] = OpenWindow(key, self.max_rows)
        window.add(request_id, at, features)
        if self.watermark is None or at > self.watermark:
            self.watermark = at
        return True

    def close_due(self, now: datetime | None = None) -> list[ClosedWindow]:
        """Close the windows the watermark (or ``now``, the wall clock of a quiet stream)
        has passed by the allowed lateness; oldest first."""
        horizon = [t for t in (self.watermark, now) if t is not None]
        if not horizon:
            return []
        cutoff = max(horizon) - self.lateness
        due = sorted(
            (key for key in self._open if key.end <= cutoff),
            key=lambda k: (k.start, k.model_name, k.model_version),
        )
        closed = []
        for key in due:
            window = self._open.pop(key)
            assert window.first_at is not None
            assert window.last_at is not None
            closed.append(
                ClosedWindow(key, window.count, window.sample(), window.first_at, window.last_at)
            )
        if due:
            newest_end = max(key.end for key in due)
            if self._closed_before is None or newest_end > self._closed_before:
                self._closed_before = newest_end
        return closed

    def key_of(self, model_name: str, model_version: int, at: datetime) -> WindowKey:
        """The window a prediction made at ``at`` by that version belongs to."""
        return window_key(model_name, model_version, at, self.seconds)

    def export(self) -> dict[str, Any]:
        """The open windows and the watermark as a JSON-able document (a graceful stop
        saves it, the next start restores it)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "seconds": self.seconds,
            "watermark": _iso(self.watermark),
            "closed_before": _iso(self._closed_before),
            "windows": [
                {
                    "model_name": key.model_name,
                    "model_version": key.model_version,
                    "start": key.start.isoformat(),
                    "count": window.count,
                    "first_at": _iso(window.first_at),
                    "last_at": _iso(window.last_at),
                    "sample": [[request_id, row] for request_id, row in window.kept()],
                }
                for key, window in self._open.items()
            ],
        }

    def restore(self, document: Mapping[str, Any]) -> int:
        """Re-open the windows of an ``export`` (same window length only); return how many.
        ``ValueError`` when the document is not one."""
        if document.get("format") != SNAPSHOT_FORMAT or document.get("seconds") != self.seconds:
            raise ValueError("not a snapshot of windows of this length")
        watermark = _time(document.get("watermark"))
        if watermark is not None and (self.watermark is None or watermark > self.watermark):
            self.watermark = watermark
        closed_before = _time(document.get("closed_before"))
        if closed_before is not None and (
            self._closed_before is None or closed_before > self._closed_before
        ):
            self._closed_before = closed_before
        restored = 0
        for item in document.get("windows", []):
            key = WindowKey(
                str(item["model_name"]),
                int(item["model_version"]),
                _parsed(item["start"]),
                self.seconds,
            )
            window = self._open.setdefault(key, OpenWindow(key, self.max_rows))
            first_at, last_at = _time(item.get("first_at")), _time(item.get("last_at"))
            window.first_at = _earliest(window.first_at, first_at)
            window.last_at = _latest(window.last_at, last_at)
            for request_id, row in item["sample"]:
                window.keep(str(request_id), dict(row))
            window.count += int(item["count"])
            restored += 1
        return restored

    def open_keys(self) -> Iterable[WindowKey]:
        """Windows still filling."""
        return list(self._open)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parsed(text: Any) -> datetime:
    value = datetime.fromisoformat(str(text))
    if value.tzinfo is None:
        raise ValueError(f"naive time {text!r} in a window snapshot")
    return value


def _time(text: Any) -> datetime | None:
    return None if text is None else _parsed(text)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min((t for t in (a, b) if t is not None), default=None)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)
