"""The churn feature store behind the service's async code: every Feast call runs in a
worker thread (Feast is synchronous), so the event loop keeps consuming meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from churn_features.domain import FeatureRow, OnlineFeatures

if TYPE_CHECKING:
    from churn_features.store import CustomerFeatureStore


class ThreadedFeatureStore:
    """Async face of :class:`churn_features.store.CustomerFeatureStore`."""

    def __init__(self, store: CustomerFeatureStore) -> None:
        self.store = store

    async def apply(self) -> None:
        """Register the definitions and create the stores (idempotent)."""
        await asyncio.to_thread(self.store.apply)

    async def write(self, rows: Sequence[FeatureRow]) -> None:
        """Append ``rows`` offline and put each customer's newest row online."""
        await asyncio.to_thread(self.store.write, rows)

    async def online(self, customer_ids: Sequence[str]) -> OnlineFeatures:
        """Current features of a batch of customers; unknown ones listed as unknown."""
        return await asyncio.to_thread(self.store.online, customer_ids)

    async def ping(self) -> None:
        """Raise unless the online store answers."""
        await asyncio.to_thread(self.store.ping)
