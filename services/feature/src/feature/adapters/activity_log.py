"""The service's own state in its SQL database (SQLite in dev, PostgreSQL in production):
each customer's retained activity records, keyed by record id, and the customers whose
rows are still to be written to the feature stores (a durable outbox: a record is
committed on Kafka only once it is here, and survives a crash before the store write)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from churn_features.domain import ActivityRecord, CustomerHistory
from feature.domain.materialization import (
    Admission,
    AdmissionOutcome,
    LatenessPolicy,
    PendingCustomer,
)
from service_kit.database import UtcDateTime, dialect_insert
from service_kit.schema import Migrations

metadata = MetaData()

activity = Table(
    "feature_activity",
    metadata,
    Column("record_id", String(200), primary_key=True),
    Column("customer_id", String(200), nullable=False),
    Column("observed_at", UtcDateTime, nullable=False),
    Column("tenure_months", Integer, nullable=False),
    Column("plan", String(32), nullable=False),
    Column("contract_type", String(32), nullable=False),
    Column("monthly_charges", Float, nullable=False),
    Column("support_tickets", Integer, nullable=False),
    Column("usage_minutes", Float, nullable=False),
    Column("sessions", Integer, nullable=False),
    Column("failed_payments", Integer, nullable=False),
    Column("admitted_at", UtcDateTime, nullable=False),
    Index("feature_activity_customer_time", "customer_id", "observed_at"),
)

pending = Table(
    "feature_pending",
    metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("since", UtcDateTime, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("claimed_until", UtcDateTime, nullable=True),
    Column("claimed_by", String(200), nullable=True),
    Index("feature_pending_since", "since"),
)

_RECORD_COLUMNS = (
    "record_id",
    "customer_id",
    "observed_at",
    "tenure_months",
    "plan",
    "contract_type",
    "monthly_charges",
    "support_tickets",
    "usage_minutes",
    "sessions",
    "failed_payments",
)


class SqlActivityLog:
    """Activity records and pending customers in the service's database."""

    def __init__(self, engine: AsyncEngine, *, instance_id: str, policy: LatenessPolicy) -> None:
        self._engine = engine
        self._instance_id = instance_id
        self.policy = policy
        insert = dialect_insert(engine)
        # Built once (compiled once): admission runs for every record, so it is three
        # statements in one transaction.
        self._probe = select(
            select(activity.c.record_id)
            .where(activity.c.record_id == bindparam("record_id"))
            .exists()
            .label("known"),
            select(func.max(activity.c.observed_at))
            .where(activity.c.customer_id == bindparam("customer_id"))
            .scalar_subquery()
            .label("newest"),
        )
        self._insert_record = insert(activity).on_conflict_do_nothing(index_elements=["record_id"])
        upsert = insert(pending)
        self._mark_pending = upsert.on_conflict_do_update(
            index_elements=["customer_id"],
            set_={
                "since": case(
                    (upsert.excluded.since < pending.c.since, upsert.excluded.since),
                    else_=pending.c.since,
                ),
                "revision": pending.c.revision + 1,
            },
        )

    async def admit(self, record: ActivityRecord) -> Admission:
        """Store ``record`` and mark its customer pending, unless its record id is known
        (duplicate) or it is too late for the lateness policy. One transaction."""
        return (await self.admit_many([record]))[0]

    async def admit_many(self, records: Sequence[ActivityRecord]) -> list[Admission]:
        """:meth:`admit` for each record, in order, in one transaction (a batch of events
        costs one commit, not one per record)."""
        async with self._engine.begin() as connection:
            return [await self._admit(connection, record) for record in records]

    async def _admit(self, connection: AsyncConnection, record: ActivityRecord) -> Admission:
        probe = (
            await connection.execute(
                self._probe,
                {"record_id": record.record_id, "customer_id": record.customer_id},
            )
        ).one()
        if probe.known:
            return Admission(AdmissionOutcome.DUPLICATE)
        newest: datetime | None = probe.newest
        if not self.policy.accepts(record.observed_at, newest):
            return Admission(AdmissionOutcome.TOO_LATE, newest)
        inserted = await connection.execute(
            self._insert_record,
            {
                **{name: getattr(record, name) for name in _RECORD_COLUMNS},
                "admitted_at": datetime.now(UTC),
            },
        )
        if inserted.rowcount == 0:  # the same record admitted concurrently
            return Admission(AdmissionOutcome.DUPLICATE, newest)
        await connection.execute(
            self._mark_pending,
            {
                "customer_id": record.customer_id,
                "since": record.observed_at,
                "revision": 1,
                "claimed_until": None,
                "claimed_by": None,
            },
        )
        return Admission(AdmissionOutcome.ACCEPTED, newest)

    async def claim(
        self, limit: int, lease: timedelta, now: datetime | None = None
    ) -> list[PendingCustomer]:
        """Take up to ``limit`` pending customers nobody else holds (oldest first) for
        ``lease``; another replica may take them over only once the lease ran out."""
        now = now or datetime.now(UTC)
        free = or_(pending.c.claimed_until.is_(None), pending.c.claimed_until < now)
        candidates = select(pending.c.customer_id).where(free).order_by(pending.c.since)
        candidates = candidates.limit(limit)
        if self._engine.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        async with self._engine.begin() as connection:
            claimed = await connection.execute(
                update(pending)
                .where(pending.c.customer_id.in_(candidates.scalar_subquery()), free)
                .values(claimed_until=now + lease, claimed_by=self._instance_id)
                .returning(pending.c.customer_id, pending.c.since, pending.c.revision)
            )
            return [
                PendingCustomer(customer_id=row.customer_id, since=row.since, revision=row.revision)
                for row in claimed
            ]

    async def histories(self, customer_ids: Iterable[str]) -> dict[str, CustomerHistory]:
        """The retained records of each customer."""
        ids = list(customer_ids)
        histories = {customer_id: CustomerHistory(customer_id) for customer_id in ids}
        if not ids:
            return histories
        columns = [activity.c[name] for name in _RECORD_COLUMNS]
        async with self._engine.connect() as connection:
            result = await connection.execute(
                select(*columns).where(activity.c.customer_id.in_(ids))
            )
            for row in result:
                record = ActivityRecord(**row._asdict())
                histories[record.customer_id].add(record)
        return histories

    async def settle(self, written: Sequence[PendingCustomer]) -> None:
        """The rows of ``written`` are in the stores: forget each customer whose revision
        is unchanged; release the others (records arrived meanwhile) for the next write."""
        if not written:
            return
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(pending).where(
                    pending.c.customer_id == bindparam("written_id"),
                    pending.c.revision == bindparam("written_revision"),
                ),
                [
                    {"written_id": customer.customer_id, "written_revision": customer.revision}
                    for customer in written
                ],
            )
            await self._release(connection, [customer.customer_id for customer in written])

    async def release(self, claimed: Sequence[PendingCustomer]) -> None:
        """Give claimed customers back untouched (the write failed; try again later)."""
        if claimed:
            async with self._engine.begin() as connection:
                await self._release(connection, [customer.customer_id for customer in claimed])

    async def prune(self, horizons: Mapping[str, datetime]) -> int:
        """Delete each customer's records older than its horizon; return how many."""
        if not horizons:
            return 0
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(activity).where(
                    activity.c.customer_id == bindparam("pruned_id"),
                    activity.c.observed_at < bindparam("horizon", type_=UtcDateTime),
                ),
                [{"pruned_id": key, "horizon": value} for key, value in horizons.items()],
            )
        return int(result.rowcount or 0)

    async def pending_count(self) -> int:
        """Customers whose rows are still to be written."""
        async with self._engine.connect() as connection:
            return int(
                (await connection.execute(select(func.count()).select_from(pending))).scalar() or 0
            )

    async def _release(self, connection: Any, customer_ids: list[str]) -> None:
        await connection.execute(
            update(pending)
            .where(
                pending.c.customer_id.in_(customer_ids),
                pending.c.claimed_by == self._instance_id,
            )
            .values(claimed_until=None, claimed_by=None)
        )


MIGRATIONS = Migrations("feature.migrations", metadata)
"""This module's tables, as Alembic revisions."""
