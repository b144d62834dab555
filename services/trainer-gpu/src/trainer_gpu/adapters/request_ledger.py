"""The trainer's durable queue of training requests, keyed by idempotency key.

A request is accepted here (and only then committed on Kafka), trained by the worker,
and its outcome stored together with its event in the outbox; so a replayed request starts
no second run, a crash mid-run resumes the request on restart, and every outcome is
published (at least once, under one event id) by the outbox's relay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, MetaData, String, Table, Text, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from mlops_contracts import ModelTrained, TrainingFailed, TrainingRequested
from service_kit.database import UtcDateTime, dialect_insert
from service_kit.outbox import Outbox
from service_kit.schema import Migrations


class RequestStatus(StrEnum):
    """Where a request stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


Outcome = ModelTrained | TrainingFailed


@dataclass(frozen=True)
class TrainingJob:
    """One accepted request and what has happened to it so far."""

    request: TrainingRequested
    request_event_id: str
    correlation_id: str | None
    status: RequestStatus
    run_id: str | None
    outcome: Outcome | None

    @property
    def key(self) -> str:
        return self.request.idempotency_key


metadata = MetaData()

requests = Table(
    "training_requests",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("request", Text, nullable=False),
    # Text: CloudEvents ids and correlation ids have no length limit.
    Column("request_event_id", Text, nullable=False),
    Column("correlation_id", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("outcome_type", String(100), nullable=True),
    Column("outcome", Text, nullable=True),
    Column("accepted_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("training_requests_accepted", "accepted_at"),
)

_OUTCOMES: dict[str, type[Outcome]] = {
    ModelTrained.event_type: ModelTrained,
    TrainingFailed.event_type: TrainingFailed,
}


class SqlRequestLedger:
    """Training requests in the trainer's database."""

    def __init__(self, engine: AsyncEngine, outbox: Outbox) -> None:
        self._engine = engine
        self._outbox = outbox
        self._insert = dialect_insert(engine)(requests).on_conflict_do_nothing(
            index_elements=["idempotency_key"]
        )

    async def accept(
        self, request: TrainingRequested, *, event_id: str, correlation_id: str | None
    ) -> bool:
        """Queue ``request``; False when its idempotency key is already known (a replay)."""
        now = datetime.now(UTC)
        async with self._engine.begin() as connection:
            result = await connection.execute(
                self._insert,
                {
                    "idempotency_key": request.idempotency_key,
                    "request": request.model_dump_json(),
                    "request_event_id": event_id,
                    "correlation_id": correlation_id,
                    "status": RequestStatus.PENDING,
                    "accepted_at": now,
                    "updated_at": now,
                },
            )
        return bool(result.rowcount)

    async def next_job(self) -> TrainingJob | None:
        """The oldest request not yet trained: pending, or running when a previous process
        died mid-run."""
        query = (
            select(requests)
            .where(requests.c.outcome_type.is_(None))
            .order_by(requests.c.accepted_at, requests.c.idempotency_key)
            .limit(1)
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else _job(row)

    async def get(self, idempotency_key: str) -> TrainingJob | None:
        """One request by key."""
        query = select(requests).where(requests.c.idempotency_key == idempotency_key)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else _job(row)

    async def started(self, idempotency_key: str, run_id: str) -> None:
        """The request's MLflow run began."""
        async with self._engine.begin() as connection:
            await connection.execute(
                self._update(idempotency_key, status=RequestStatus.RUNNING, run_id=run_id)
            )

    async def finished(self, job: TrainingJob, outcome: Outcome) -> None:
        """Store the outcome, and its event in the outbox, in one transaction."""
        status = (
            RequestStatus.SUCCEEDED if isinstance(outcome, ModelTrained) else RequestStatus.FAILED
        )
        async with self._engine.begin() as connection:
            await connection.execute(
                self._update(
                    job.key,
                    status=status,
                    outcome_type=outcome.event_type,
                    outcome=outcome.model_dump_json(),
                )
            )
            await self._outbox.add(
                connection,
                outcome,
                event_id=outcome_event_id(job.key),
                correlation_id=job.correlation_id or job.request_event_id,
            )

    def _update(self, idempotency_key: str, **values: object) -> Any:
        return (
            update(requests)
            .where(requests.c.idempotency_key == idempotency_key)
            .values(**values, updated_at=datetime.now(UTC))
        )


def outcome_event_id(idempotency_key: str) -> str:
    """The CloudEvents id of a request's outcome: one per request, whatever replays it."""
    return f"trainer-gpu:{idempotency_key}:outcome"


def _job(row: Row[Any]) -> TrainingJob:
    outcome = (
        _OUTCOMES[row.outcome_type].model_validate(json.loads(row.outcome))
        if row.outcome_type and row.outcome
        else None
    )
    return TrainingJob(
        request=TrainingRequested.model_validate_json(row.request),
        request_event_id=row.request_event_id,
        correlation_id=row.correlation_id,
        status=RequestStatus(row.status),
        run_id=row.run_id,
        outcome=outcome,
    )


MIGRATIONS = Migrations("trainer_gpu.migrations", metadata)
"""This module's tables, as Alembic revisions."""
