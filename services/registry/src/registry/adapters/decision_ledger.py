"""Gate decisions in the registry's database, keyed by model version: the decision is
stored before the alias moves, so a replayed ``ModelTrained`` (or a crash before the alias
moved) finishes the same decision instead of judging again; once applied, its event goes
to the outbox in the same transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from mlops_contracts import ModelPromoted, ModelRejected
from service_kit.database import UtcDateTime, dialect_insert
from service_kit.outbox import Outbox
from service_kit.schema import Migrations

Decision = ModelPromoted | ModelRejected

_DECISIONS: dict[str, type[Decision]] = {
    ModelPromoted.event_type: ModelPromoted,
    ModelRejected.event_type: ModelRejected,
}

metadata = MetaData()

decisions = Table(
    "gate_decisions",
    metadata,
    Column("model_name", String(200), primary_key=True),
    Column("model_version", Integer, primary_key=True),
    Column("decision_type", String(100), nullable=False),
    Column("decision", Text, nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
)


@dataclass(frozen=True)
class StoredDecision:
    """A decision and whether it was applied (and so handed to the outbox)."""

    decision: Decision
    applied: bool


def decision_event_id(decision: Decision) -> str:
    """The CloudEvents id of a decision's event: the same on every replay."""
    return f"registry:{decision.model_name}:{decision.model_version}:decision"


class SqlDecisionLedger:
    """Gate decisions in the registry's database."""

    def __init__(self, engine: AsyncEngine, outbox: Outbox) -> None:
        self._engine = engine
        self._outbox = outbox
        self._insert = dialect_insert(engine)(decisions).on_conflict_do_nothing(
            index_elements=["model_name", "model_version"]
        )

    async def get(self, model_name: str, version: int) -> StoredDecision | None:
        """The decision about one version, if made."""
        query = select(decisions).where(
            decisions.c.model_name == model_name, decisions.c.model_version == version
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else _stored(row)

    async def record(self, decision: Decision) -> StoredDecision:
        """Store ``decision`` unless one exists for the version; return the stored one."""
        async with self._engine.begin() as connection:
            await connection.execute(
                self._insert,
                {
                    "model_name": decision.model_name,
                    "model_version": decision.model_version,
                    "decision_type": decision.event_type,
                    "decision": decision.model_dump_json(),
                    "applied": False,
                    "decided_at": datetime.now(UTC),
                },
            )
        stored = await self.get(decision.model_name, decision.model_version)
        assert stored is not None
        return stored

    async def applied(self, decision: Decision, *, correlation_id: str | None) -> None:
        """The decision was applied (the alias moved): mark it, and store its event in the
        outbox, in one transaction."""
        statement = (
            update(decisions)
            .where(
                decisions.c.model_name == decision.model_name,
                decisions.c.model_version == decision.model_version,
            )
            .values(applied=True)
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)
            await self._outbox.add(
                connection,
                decision,
                event_id=decision_event_id(decision),
                correlation_id=correlation_id,
            )

    async def history(self, model_name: str) -> list[Decision]:
        """Every decision about ``model_name``, oldest version first."""
        query = (
            select(decisions)
            .where(decisions.c.model_name == model_name)
            .order_by(decisions.c.model_version)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_stored(row).decision for row in rows]


def _stored(row: Row[Any]) -> StoredDecision:
    return StoredDecision(
        decision=_DECISIONS[row.decision_type].model_validate(json.loads(row.decision)),
        applied=bool(row.applied),
    )


MIGRATIONS = Migrations("registry.migrations", metadata)
"""This module's tables, as Alembic revisions."""
