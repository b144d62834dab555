"""The churn labels a service has seen, in its own SQL database (SQLite in dev, PostgreSQL
in production), fed from the ``customer.labels`` topic.

Each service that needs labelled data (the trainer for its training window, the registry
for the gate's fresh holdout) keeps its own copy built from the stream, so no service
reads another's database. Keyed by the label's record id: a redelivered label is stored
once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import Boolean, Column, Index, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mlops_contracts import Envelope, LabelObserved, topic_for
from service_kit import Subscription, batches, own_group, running
from service_kit.database import UtcDateTime, dialect_insert
from service_kit.schema import Migrations

C = TypeVar("C")


@dataclass(frozen=True)
class Label:
    """One observed outcome: who, churned or not, the prediction point it is about (when
    its features are joined) and when it became known (what windows select on)."""

    record_id: str
    customer_id: str
    churned: bool
    prediction_point: datetime
    observed_at: datetime

    @classmethod
    def from_event(cls, event: LabelObserved) -> Label:
        """The label carried by a ``LabelObserved`` event."""
        return cls(
            record_id=event.record_id,
            customer_id=event.customer_id,
            churned=event.churned,
            prediction_point=event.prediction_point,
            observed_at=event.observed_at,
        )


metadata = MetaData()

labels_table = Table(
    "churn_labels",
    metadata,
    Column("record_id", String(200), primary_key=True),
    Column("customer_id", String(200), nullable=False),
    Column("churned", Boolean, nullable=False),
    Column("prediction_point", UtcDateTime, nullable=False),
    Column("observed_at", UtcDateTime, nullable=False),
    Index("churn_labels_observed_at", "observed_at"),
)

_BATCH = 500  # rows per INSERT: the databases cap bind parameters per statement


class SqlLabelLog:
    """Labels in the service's database, selected by the time they were observed."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    async def admit(self, labels: Sequence[Label]) -> int:
        """Store ``labels`` in one transaction; a known record id is skipped. Returns how
        many were new."""
        added = 0
        async with self._engine.begin() as connection:
            for start in range(0, len(labels), _BATCH):
                rows = [
                    {
                        "record_id": label.record_id,
                        "customer_id": label.customer_id,
                        "churned": label.churned,
                        "prediction_point": label.prediction_point,
                        "observed_at": label.observed_at,
                    }
                    for label in labels[start : start + _BATCH]
                ]
                # One multi-row INSERT (executemany reports no row count on asyncpg).
                statement = (
                    self._insert(labels_table)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["record_id"])
                )
                result = await connection.execute(statement)
                added += max(result.rowcount or 0, 0)
        return added

    async def record(self, envelopes: Sequence[Envelope[LabelObserved]]) -> None:
        """Store the labels of a batch of ``LabelObserved`` events (see :meth:`admit`)."""
        await self.admit([Label.from_event(envelope.data) for envelope in envelopes])

    async def observed_between(
        self, start: datetime, end: datetime, *, limit: int | None = None
    ) -> list[Label]:
        """Labels observed in ``[start, end)``, newest first, at most ``limit``."""
        query = (
            select(labels_table)
            .where(labels_table.c.observed_at >= start, labels_table.c.observed_at < end)
            .order_by(labels_table.c.observed_at.desc(), labels_table.c.record_id)
        )
        if limit is not None:
            query = query.limit(limit)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            Label(
                record_id=row.record_id,
                customer_id=row.customer_id,
                churned=row.churned,
                prediction_point=row.prediction_point,
                observed_at=row.observed_at,
            )
            for row in rows
        ]

    async def count_between(self, start: datetime, end: datetime) -> int:
        """How many labels were observed in ``[start, end)``."""
        query = select(func.count()).where(
            labels_table.c.observed_at >= start, labels_table.c.observed_at < end
        )
        async with self._engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def count(self) -> int:
        """How many labels are stored."""
        async with self._engine.connect() as connection:
            return int(
                (
                    await connection.execute(select(func.count(labels_table.c.record_id)))
                ).scalar_one()
            )

    async def latest_observed_at(self) -> datetime | None:
        """When the newest stored label was observed (None when there is none)."""
        query = select(func.max(labels_table.c.observed_at))
        async with self._engine.connect() as connection:
            value: datetime | None = (await connection.execute(query)).scalar_one()
        if value is not None and value.tzinfo is None:  # in case the driver drops the type
            value = value.replace(tzinfo=UTC)
        return value


class LabelSummary(BaseModel):
    """How many labels a service has stored, and the newest one's observation time."""

    count: int
    latest_observed_at: datetime | None


def follow_labels(label_log: Callable[[C], SqlLabelLog]) -> Subscription[C]:
    """The subscription that keeps a service's own label log (``label_log`` of its running
    components) fed from ``customer.labels``, in its own consumer group
    ``<service>.labels``; duplicates are skipped by the log itself."""
    return batches(
        topic_for(LabelObserved),
        lambda components: label_log(components).record,
        group=own_group("labels"),
        idempotent=False,
    )


def label_summary_router(label_log: Callable[[Any], SqlLabelLog]) -> APIRouter:
    """``GET /v1/labels/summary`` of a service's label log (``label_log`` of its running
    components): how far it has caught up."""
    router = APIRouter(tags=["labels"])

    @router.get("/v1/labels/summary", response_model=LabelSummary)
    async def summary(components: Annotated[Any, Depends(running)]) -> LabelSummary:
        """Labels stored so far; the launcher's bootstrap waits on it."""
        log = label_log(components)
        return LabelSummary(
            count=await log.count(), latest_observed_at=await log.latest_observed_at()
        )

    return router


MIGRATIONS = Migrations("churn_features.migrations", metadata)
"""This module's tables, as Alembic revisions."""
