"""The transactional outbox: a decision and the events it causes are stored in one database
transaction; the relay publishes the stored events in order and marks them sent.

A service that must neither lose nor repeat a decision (the gate's promotion, the
trainer's outcome, the trigger's training request, the monitor's window) writes its
decision and calls :meth:`Outbox.add` on the same connection, inside the same transaction:
either both are stored or neither. The relay then publishes, at least once: a crash
between the broker's acknowledgement and the mark publishes the event again under the
same event id, which every consumer deduplicates on (``ce_id``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mlops_contracts import EVENT_TYPES, Event
from service_kit.database import UtcDateTime, dialect_insert
from service_kit.publishing import BatchPublisher, Outgoing

logger = logging.getLogger(__name__)

metadata = MetaData()

outbox = Table(
    "outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(250), nullable=False, unique=True),
    Column("event_type", String(200), nullable=False),
    Column("topic", String(249), nullable=True),
    Column("payload", Text, nullable=False),
    Column("correlation_id", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True, index=True),
)
"""One row per event to publish (``published_at`` set once the broker acknowledged it)."""

_BATCH = 100  # events published together, and marked in one statement


class Outbox:
    """Events stored beside the decisions that cause them, and their relay."""

    def __init__(
        self, engine: AsyncEngine, publisher: BatchPublisher, *, poll_s: float = 2.0
    ) -> None:
        self.engine = engine
        """The database the outbox is in (the service's state database)."""
        self._publisher = publisher
        self._poll_s = poll_s
        self._insert = dialect_insert(engine)(outbox).on_conflict_do_nothing(
            index_elements=["event_id"]
        )
        self._relaying = asyncio.Lock()

    async def add(
        self,
        connection: AsyncConnection,
        event: Event,
        *,
        event_id: str,
        correlation_id: str | None = None,
        topic: str | None = None,
    ) -> None:
        """Store ``event`` in the caller's transaction on ``connection`` (its catalogue
        topic, or ``topic``); once that commits, :meth:`flush` publishes it. An event id
        already stored keeps its first event."""
        await connection.execute(
            self._insert,
            {
                "event_id": event_id,
                "event_type": event.event_type,
                "topic": topic,
                "payload": event.model_dump_json(),
                "correlation_id": correlation_id,
                "created_at": datetime.now(UTC),
                "published_at": None,
            },
        )

    async def relay(self) -> int:
        """Publish every stored event not yet published, oldest first, in batches; return
        how many. Raises when the broker does not acknowledge a batch (the batches before
        it stay marked; it is published again by the next relay)."""
        published = 0
        async with self._relaying:
            while rows := await self._pending():
                outgoing, seqs = [], []
                for row in rows:
                    event = _event(row)
                    if event is not None:
                        outgoing.append(
                            Outgoing(
                                event,
                                topic=row.topic,
                                correlation_id=row.correlation_id,
                                event_id=row.event_id,
                                time=row.created_at,
                            )
                        )
                        seqs.append(row.seq)
                if not seqs:
                    break  # only rows that can never be published: logged by _event
                await self._publisher.publish_all(outgoing)
                await self._mark(seqs)
                published += len(seqs)
        return published

    async def flush(self) -> bool:
        """Publish what is stored now; False (logged) when the broker did not acknowledge:
        the decision is stored, and the relay publishes it later."""
        try:
            await self.relay()
        except Exception:
            logger.warning("outbox not published yet; the relay retries", exc_info=True)
            return False
        return True

    async def run(self) -> None:
        """The relay in the background, every ``poll_s``: what a decider did not flush
        itself (its publish failed, or another process stored it, e.g. a CLI)."""
        while True:
            await self.flush()
            await asyncio.sleep(self._poll_s)

    async def published(self, event_ids: Collection[str]) -> set[str]:
        """The subset of ``event_ids`` the broker acknowledged."""
        ids = list(event_ids)
        found: set[str] = set()
        async with self.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                query = select(outbox.c.event_id).where(
                    outbox.c.event_id.in_(ids[start : start + 500]),
                    outbox.c.published_at.is_not(None),
                )
                found.update(row[0] for row in await connection.execute(query))
        return found

    async def forget_published_before(self, cutoff: datetime) -> int:
        """Delete events published before ``cutoff``; returns how many."""
        async with self.engine.begin() as connection:
            result = await connection.execute(delete(outbox).where(outbox.c.published_at < cutoff))
        return result.rowcount or 0

    async def _pending(self) -> list[Row[Any]]:
        query = (
            select(outbox)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(_BATCH)
        )
        async with self.engine.connect() as connection:
            return list((await connection.execute(query)).all())

    async def _mark(self, seqs: list[int]) -> None:
        statement = (
            update(outbox).where(outbox.c.seq.in_(seqs)).values(published_at=datetime.now(UTC))
        )
        async with self.engine.begin() as connection:
            await connection.execute(statement)


def _event(row: Row[Any]) -> Event | None:
    """The stored event; None (logged) for one no contract of this release describes."""
    try:
        return EVENT_TYPES[row.event_type].model_validate_json(row.payload)
    except (KeyError, ValidationError) as error:
        logger.error(
            "outbox event cannot be published by this release; left in the outbox",
            extra={"event_id": row.event_id, "event_type": row.event_type, "error": str(error)},
        )
        return None
