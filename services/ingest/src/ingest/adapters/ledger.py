"""The record-id ledger on the service's own database (processed-ids table)."""

from __future__ import annotations

from collections.abc import Collection

from service_kit import SqlProcessedEvents

LEDGER = "ingest:record-ids"


class SqlRecordLedger:
    """Accepted record ids, durable in SQLite or PostgreSQL."""

    def __init__(self, store: SqlProcessedEvents) -> None:
        self._store = store

    async def known(self, record_ids: Collection[str]) -> set[str]:
        return await self._store.seen_many(LEDGER, record_ids)

    async def remember(self, record_ids: Collection[str]) -> None:
        await self._store.mark_many(LEDGER, record_ids)
