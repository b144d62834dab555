"""The trainer's durable queue of training requests, keyed by idempotency key.

A request is accepted here (and only then committed on Kafka), trained by the worker,
and its outcome event stored before it is published; so a replayed request starts no
second run, a crash mid-run resumes the request on restart, and an outcome that could
not be published is published again with the same event id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Column, Index, MetaData, String, Table, Text, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from mlops_contracts import ModelTrained, TrainingFailed, TrainingRequested
from service_kit.database import UtcDateTime, dialect_insert


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
    published: bool

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
    Column("published", Boolean, nullable=False, default=False),
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

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)(requests).on_conflict_do_nothing(
            index_elements=["idempotency_key"]
        )

    async def create_schema(self) -> None:
        """Create the table if it does not exist (idempotent)."""
        async with self._engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

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
                    "published": False,
                    "accepted_at": now,
                    "updated_at": now,
                },
            )
        return bool(result.rowcount)

    async def next_job(self) -> TrainingJob | None:
        """The oldest request with work left: not yet trained (pending, or running when a
        previous process died mid-run), or trained with its outcome not yet published."""
        query = (
            select(requests)
            .where(requests.c.published.is_(False))
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
        await self._update(idempotency_key, status=RequestStatus.RUNNING, run_id=run_id)

    async def finished(self, idempotency_key: str, outcome: Outcome) -> None:
        """Store the outcome (to be published)."""
        status = (
            RequestStatus.SUCCEEDED if isinstance(outcome, ModelTrained) else RequestStatus.FAILED
        )
        await self._update(
            idempotency_key,
            status=status,
            outcome_type=outcome.event_type,
            outcome=outcome.model_dump_json(),
        )

    async def published(self, idempotency_key: str) -> None:
        """The outcome was acknowledged by the broker."""
        await self._update(idempotency_key, published=True)

    async def _update(self, idempotency_key: str, **values: object) -> None:
        statement = (
            update(requests)
            .where(requests.c.idempotency_key == idempotency_key)
            .values(**values, updated_at=datetime.now(UTC))
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)


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
        published=bool(row.published),
    )
