"""The trigger's decision ledger in its database (SQLite or PostgreSQL).

Three tables: the policy state of each model (with a revision number, so two deciders,
e.g. the service and the CLI, never both act on the same state: a decision commits only
if the state it was made on is still current), every decision (keyed by its signal, stored
with its announcement in the outbox, in one transaction), and the labels seen (record id
and observation time only, to count the new ones).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mlops_contracts import SuppressionReason, TrainingReason
from retrain_trigger.domain.policy import Decision, Outcome, PolicyState
from service_kit.database import UtcDateTime, dialect_insert
from service_kit.outbox import Outbox
from service_kit.schema import Migrations

metadata = MetaData()

states = Table(
    "retrain_trigger_state",
    metadata,
    Column("model_name", String(200), primary_key=True),
    Column("state", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

decisions = Table(
    "retrain_trigger_decisions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", String(200), nullable=False, unique=True),
    Column("model_name", String(200), nullable=False),
    Column("signal", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("detail", Text, nullable=False),
    Column("triggering_event_ids", Text, nullable=False),
    Column("idempotency_key", String(200), nullable=True),
    Column("data_window_start", UtcDateTime, nullable=True),
    Column("data_window_end", UtcDateTime, nullable=True),
    Column("requested_by", String(200), nullable=False),
    Column("announce", Boolean, nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
)

labels = Table(
    "retrain_trigger_labels",
    metadata,
    Column("record_id", String(200), primary_key=True),
    Column("observed_at", UtcDateTime, nullable=False),
    Index("retrain_trigger_labels_observed_at", "observed_at"),
)

_BATCH = 500  # rows per INSERT: the databases cap bind parameters per statement


@dataclass(frozen=True)
class StoredDecision:
    """A decision and whether its announcement was published (never, when silent)."""

    decision: Decision
    published: bool
    seq: int


@dataclass(frozen=True)
class VersionedState:
    """A model's policy state and the revision it was read at (None: never stored)."""

    state: PolicyState
    revision: int | None


class _StaleState(Exception):
    """The state changed (or the decision was made) since it was read: judge again."""


class SqlTriggerLedger:
    """Policy state, decisions and label arrivals in the trigger's database."""

    def __init__(self, engine: AsyncEngine, outbox: Outbox) -> None:
        self._engine = engine
        self._outbox = outbox
        self._insert = dialect_insert(engine)

    # ---------------------------------------------------------------- state

    async def state(self, model_name: str) -> VersionedState:
        """The model's state (a fresh one when none is stored) and its revision."""
        query = select(states.c.state, states.c.revision).where(states.c.model_name == model_name)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return VersionedState(PolicyState(model_name=model_name), None)
        return VersionedState(PolicyState.model_validate_json(row.state), int(row.revision))

    async def save_state(self, state: PolicyState, revision: int | None) -> bool:
        """Store ``state`` if the stored one is still at ``revision``; False otherwise."""
        try:
            async with self._engine.begin() as connection:
                await self._save(connection, state, revision)
        except _StaleState:
            return False
        return True

    async def _save(
        self, connection: AsyncConnection, state: PolicyState, revision: int | None
    ) -> None:
        now = datetime.now(UTC)
        if revision is None:
            statement = (
                self._insert(states)
                .values(
                    model_name=state.model_name,
                    state=state.model_dump_json(),
                    revision=1,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["model_name"])
            )
        else:
            statement = (
                update(states)
                .where(states.c.model_name == state.model_name, states.c.revision == revision)
                .values(state=state.model_dump_json(), revision=revision + 1, updated_at=now)
            )
        result = await connection.execute(statement)
        if not result.rowcount:
            raise _StaleState(state.model_name)

    # ---------------------------------------------------------------- decisions

    async def commit(self, decision: Decision, state: PolicyState, revision: int | None) -> bool:
        """Record ``decision``, the state it leads to and its announcement (in the outbox),
        in one transaction, if the state is still at ``revision`` and the signal was not
        decided meanwhile; False otherwise (nothing is written: judge again)."""
        try:
            async with self._engine.begin() as connection:
                await self._save(connection, state, revision)
                result = await connection.execute(
                    self._insert(decisions)
                    .values(**_row(decision))
                    .on_conflict_do_nothing(index_elements=["decision_id"])
                )
                if not result.rowcount:
                    raise _StaleState(decision.decision_id)
                if decision.announce:
                    await self._outbox.add(connection, decision.event(), event_id=decision.event_id)
        except _StaleState:
            return False
        return True

    async def decision(self, decision_id: str) -> StoredDecision | None:
        """The decision about one signal, if made."""
        query = select(decisions).where(decisions.c.decision_id == decision_id)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else (await self._stored([row]))[0]

    async def recent(self, limit: int, model_name: str | None = None) -> list[StoredDecision]:
        """The newest ``limit`` decisions (of one model, or all), newest first."""
        query = select(decisions).order_by(decisions.c.seq.desc()).limit(limit)
        if model_name is not None:
            query = query.where(decisions.c.model_name == model_name)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return await self._stored(rows)

    async def _stored(self, rows: Sequence[Row[Any]]) -> list[StoredDecision]:
        made = [(decision_of(row), int(row.seq)) for row in rows]
        published = await self._outbox.published([d.event_id for d, _ in made if d.announce])
        return [
            StoredDecision(decision=d, published=d.event_id in published, seq=seq)
            for d, seq in made
        ]

    # ---------------------------------------------------------------- labels

    async def admit_labels(self, arrivals: Sequence[tuple[str, datetime]]) -> int:
        """Store (record id, observed at) pairs; a known record id is skipped. Returns how
        many were new."""
        added = 0
        async with self._engine.begin() as connection:
            for start in range(0, len(arrivals), _BATCH):
                rows = [
                    {"record_id": record_id, "observed_at": observed_at}
                    for record_id, observed_at in arrivals[start : start + _BATCH]
                ]
                result = await connection.execute(
                    self._insert(labels)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["record_id"])
                )
                added += max(result.rowcount or 0, 0)
        return added

    async def labels_after(self, since: datetime | None) -> int:
        """How many labels were observed after ``since`` (all of them when None)."""
        query = select(func.count()).select_from(labels)
        if since is not None:
            query = query.where(labels.c.observed_at > since)
        async with self._engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def forget_labels_before(self, cutoff: datetime) -> int:
        """Delete labels observed before ``cutoff``; returns how many."""
        async with self._engine.begin() as connection:
            result = await connection.execute(delete(labels).where(labels.c.observed_at < cutoff))
        return result.rowcount or 0


def _row(decision: Decision) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id,
        "model_name": decision.model_name,
        "signal": decision.signal.value,
        "outcome": decision.outcome.value,
        "reason": decision.reason.value if decision.reason else None,
        "detail": decision.detail,
        "triggering_event_ids": json.dumps(list(decision.triggering_event_ids)),
        "idempotency_key": decision.idempotency_key,
        "data_window_start": decision.data_window_start,
        "data_window_end": decision.data_window_end,
        "requested_by": decision.requested_by,
        "announce": decision.announce,
        "decided_at": decision.decided_at,
    }


def decision_of(row: Row[Any]) -> Decision:
    """The decision a row of ``retrain_trigger_decisions`` holds."""
    return Decision(
        decision_id=row.decision_id,
        model_name=row.model_name,
        signal=TrainingReason(row.signal),
        outcome=Outcome(row.outcome),
        reason=SuppressionReason(row.reason) if row.reason else None,
        detail=row.detail,
        triggering_event_ids=tuple(json.loads(row.triggering_event_ids)),
        decided_at=row.decided_at,
        announce=bool(row.announce),
        idempotency_key=row.idempotency_key,
        data_window_start=row.data_window_start,
        data_window_end=row.data_window_end,
        requested_by=row.requested_by,
    )


MIGRATIONS = Migrations("retrain_trigger.migrations", metadata)
"""This module's tables, as Alembic revisions."""
