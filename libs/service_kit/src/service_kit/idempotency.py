"""Durable record of processed event ids, so a redelivered event is handled once."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service_kit.database import dialect_insert

metadata = MetaData()

processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", String(200), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False, index=True),
)


class ProcessedEvents(Protocol):
    """Which event ids a consumer (service + subscription) has already processed."""

    async def seen(self, consumer: str, event_id: str) -> bool: ...
    async def mark(self, consumer: str, event_id: str) -> None: ...
    async def seen_many(self, consumer: str, event_ids: Collection[str]) -> set[str]: ...
    async def mark_many(self, consumer: str, event_ids: Collection[str]) -> None: ...


class SqlProcessedEvents:
    """Processed ids in the service's own database (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def seen(self, consumer: str, event_id: str) -> bool:
        query = select(processed_events.c.event_id).where(
            processed_events.c.consumer == consumer, processed_events.c.event_id == event_id
        )
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).first() is not None

    async def mark(self, consumer: str, event_id: str) -> None:
        statement = (
            dialect_insert(self._engine)(processed_events)
            .values(consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC))
            .on_conflict_do_nothing()
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)

    async def seen_many(self, consumer: str, event_ids: Collection[str]) -> set[str]:
        """The subset of ``event_ids`` already processed (one query per 500 ids)."""
        found: set[str] = set()
        ids = list(event_ids)
        async with self._engine.connect() as connection:
            for start in range(0, len(ids), 500):
                query = select(processed_events.c.event_id).where(
                    processed_events.c.consumer == consumer,
                    processed_events.c.event_id.in_(ids[start : start + 500]),
                )
                found.update(row[0] for row in await connection.execute(query))
        return found

    async def mark_many(self, consumer: str, event_ids: Collection[str]) -> None:
        """Mark every id processed in one transaction (one statement per 500 ids: the
        databases cap the bind parameters of one statement)."""
        if not event_ids:
            return
        insert = dialect_insert(self._engine)
        now = datetime.now(UTC)
        ids = list(event_ids)
        async with self._engine.begin() as connection:
            for start in range(0, len(ids), 500):
                rows = [
                    {"consumer": consumer, "event_id": i, "processed_at": now}
                    for i in ids[start : start + 500]
                ]
                await connection.execute(
                    insert(processed_events).values(rows).on_conflict_do_nothing()
                )

    async def forget_older_than(self, age: timedelta) -> int:
        """Delete ids processed longer ago than ``age`` (beyond any redelivery horizon)."""
        cutoff = datetime.now(UTC) - age
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(processed_events).where(processed_events.c.processed_at < cutoff)
            )
        return result.rowcount or 0


class InMemoryProcessedEvents:
    """For unit tests: the same behaviour, forgotten when the process ends."""

    def __init__(self) -> None:
        self._ids: set[tuple[str, str]] = set()

    async def seen(self, consumer: str, event_id: str) -> bool:
        return (consumer, event_id) in self._ids

    async def mark(self, consumer: str, event_id: str) -> None:
        self._ids.add((consumer, event_id))

    async def seen_many(self, consumer: str, event_ids: Collection[str]) -> set[str]:
        return {i for i in event_ids if (consumer, i) in self._ids}

    async def mark_many(self, consumer: str, event_ids: Collection[str]) -> None:
        self._ids.update((consumer, i) for i in event_ids)
