"""The live feed: the projection plus the pages watching it.

Every update of the projection is offered to each open page's :class:`LiveSubscription`,
which coalesces pending changes by item (a slow page gets the latest state of an item, not
every step in between) and, past ``pending_limit`` distinct items, gives up on deltas and
asks for a fresh snapshot instead: a stalled client costs bounded memory.

Everything runs on the event loop of the monitor (the Kafka handlers, the engine's
``record_predictions`` and the HTTP streams share it), so no locking is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlops_contracts import Envelope
from monitor.dashboard.projection import Change, DashboardProjection, Json
from service_kit import UnprocessableEvent

logger = logging.getLogger(__name__)


class LiveSubscription:
    """What one open page has not been sent yet."""

    def __init__(self, pending_limit: int) -> None:
        self._pending: dict[tuple[str, str], Change] = {}
        self._limit = pending_limit
        self._wake = asyncio.Event()
        self.needs_snapshot = False
        """True when changes were dropped: the page must get a whole snapshot again."""
        self.ended = False
        """True once the feed closed: the stream ends (the page reconnects elsewhere)."""

    def offer(self, changes: Sequence[Change]) -> None:
        """Queue ``changes`` (the latest version of an item replaces an unsent one)."""
        if not changes or self.needs_snapshot:
            return
        for change in changes:
            self._pending[(change.kind, change.key)] = change
        if len(self._pending) > self._limit:
            self._pending.clear()
            self.needs_snapshot = True
        self._wake.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait until something is pending; False when ``timeout_s`` passed first."""
        if self._pending or self.needs_snapshot or self.ended:
            return True
        try:
            await asyncio.wait_for(self._wake.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def take(self) -> list[Change]:
        """The pending changes, oldest first; the subscription is empty afterwards."""
        changes = list(self._pending.values())
        self._pending.clear()
        self._wake.clear()
        return changes

    def end(self) -> None:
        """The server is stopping: the stream should end now."""
        self.ended = True
        self._wake.set()

    def resynced(self) -> None:
        """The page just got a whole snapshot: deltas may flow again."""
        self._pending.clear()
        self._wake.clear()
        self.needs_snapshot = False


class TooManyClients(Exception):
    """Every live stream slot is taken."""


class DashboardFeed:
    """The dashboard's state and its live subscribers; the monitor's engine feeds it the
    prediction traffic through :meth:`record_predictions`."""

    def __init__(
        self, projection: DashboardProjection, *, max_clients: int, pending_limit: int = 5000
    ) -> None:
        self.projection = projection
        self._max_clients = max_clients
        self._pending_limit = pending_limit
        self._subscriptions: set[LiveSubscription] = set()
        self._closed = False

    @property
    def client_count(self) -> int:
        """Live streams open now."""
        return len(self._subscriptions)

    @property
    def is_full(self) -> bool:
        """Whether every live stream slot is taken."""
        return self._closed or len(self._subscriptions) >= self._max_clients

    def snapshot(self) -> Json:
        """The whole state (see :meth:`DashboardProjection.snapshot`)."""
        return self.projection.snapshot()

    def record_predictions(
        self,
        *,
        at: datetime,
        count: int,
        errors: int,
        latencies_ms: Sequence[float],
        model_version: str | None,
    ) -> None:
        """Count a consumed batch of ``PredictionMade``: ``count`` answers at about ``at``
        (aware), ``errors`` of them with status error, the predictor latencies of the
        batch, the model version that answered them. Call it on the event loop. Quick,
        and never raises: the dashboard must not hold the monitor's consumer up."""
        try:
            changes = self.projection.record_predictions(
                at=at,
                count=count,
                errors=errors,
                latencies_ms=latencies_ms,
                model_version=model_version,
            )
        except Exception:
            logger.exception("dashboard could not count a batch of predictions")
            return
        self._publish(changes)

    def apply(self, envelope: Envelope[Any]) -> None:
        """Fold one consumed loop event in and tell the open pages."""
        self._publish(self.projection.apply(envelope))

    async def on_event(self, envelope: Envelope[Any]) -> None:
        """Kafka handler: one loop event. A projection failure is deterministic, so the
        event is dead-lettered rather than retried forever."""
        try:
            self.apply(envelope)
        except Exception as error:
            logger.exception("dashboard could not project an event", extra={"id": envelope.id})
            raise UnprocessableEvent(f"dashboard projection failed: {error!r}") from error

    def subscribe(self) -> LiveSubscription:
        """A new live stream; raises :class:`TooManyClients` when every slot is taken."""
        if self._closed:
            raise TooManyClients("the dashboard is shutting down")
        if len(self._subscriptions) >= self._max_clients:
            raise TooManyClients(f"{self._max_clients} live dashboard streams are open")
        subscription = LiveSubscription(self._pending_limit)
        self._subscriptions.add(subscription)
        return subscription

    def close(self) -> None:
        """End every live stream and refuse new ones (the server is stopping: an open
        stream would otherwise hold the graceful shutdown for its whole grace period)."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription.end()

    def unsubscribe(self, subscription: LiveSubscription) -> None:
        """The stream ended (client gone, server stopping)."""
        self._subscriptions.discard(subscription)

    def _publish(self, changes: list[Change]) -> None:
        for subscription in self._subscriptions:
            subscription.offer(changes)
