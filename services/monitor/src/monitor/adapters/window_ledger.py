"""Which windows' events were emitted, in the monitor's database: the guard that keeps a
restart or a replay from emitting a window twice. A window's row and its event (in the
outbox) are stored in one transaction."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mlops_contracts import DriftDetected, PerformanceDegraded
from service_kit.database import UtcDateTime, dialect_insert
from service_kit.outbox import Outbox
from service_kit.schema import Migrations

WindowKind = Literal["drift", "performance"]

metadata = MetaData()

emitted_windows = Table(
    "monitor_emitted_windows",
    metadata,
    Column("kind", String(20), primary_key=True),
    Column("window_id", String(200), primary_key=True),
    Column("event_id", String(250), nullable=False),
    Column("emitted_at", UtcDateTime, nullable=False),
)


class SqlWindowLedger:
    """Emitted windows per kind (``drift``, ``performance``) with their event ids."""

    def __init__(self, engine: AsyncEngine, outbox: Outbox) -> None:
        self._engine = engine
        self._outbox = outbox

    async def emitted(self, kind: WindowKind, window_ids: Collection[str]) -> set[str]:
        """The subset of ``window_ids`` whose ``kind`` event was emitted."""
        ids = list(window_ids)
        found: set[str] = set()
        async with self._engine.connect() as connection:
            for start in range(0, len(ids), 500):
                query = select(emitted_windows.c.window_id).where(
                    emitted_windows.c.kind == kind,
                    emitted_windows.c.window_id.in_(ids[start : start + 500]),
                )
                found.update(row[0] for row in await connection.execute(query))
        return found

    async def emit(
        self,
        kind: WindowKind,
        window_id: str,
        event: DriftDetected | PerformanceDegraded,
        event_id: str,
    ) -> None:
        """Remember the window's event as emitted and store it in the outbox, in one
        transaction (idempotent: a window emitted before keeps its first event)."""
        statement = (
            dialect_insert(self._engine)(emitted_windows)
            .values(kind=kind, window_id=window_id, event_id=event_id, emitted_at=datetime.now(UTC))
            .on_conflict_do_nothing()
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)
            await self._outbox.add(connection, event, event_id=event_id)


MIGRATIONS = Migrations("monitor.migrations", metadata)
"""This module's tables, as Alembic revisions."""
