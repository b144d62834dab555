"""The activity log (real SQLite, real PostgreSQL `connected`) and the materialize use case
with it: admission, duplicates, lateness, claims, at-least-once writes, pruning."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from feature.adapters.activity_log import MIGRATIONS, SqlActivityLog
from feature.domain.materialization import AdmissionOutcome, LatenessPolicy
from feature.service import materialize_pending

from churn_features.domain import ActivityRecord, CustomerHistory, FeatureRow, OnlineFeatures
from mlops_contracts import Event, FeaturesMaterialized
from service_kit.database import create_engine
from service_kit.schema import migrate

T0 = datetime(2026, 3, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def record(record_id: str, customer_id: str, day: float, tickets: int = 1) -> ActivityRecord:
    return ActivityRecord(
        record_id,
        customer_id,
        T0 + timedelta(days=day),
        3,
        "basic",
        "one_year",
        10.0,
        tickets,
        5.5,
        1,
        0,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.connected)])
async def log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlActivityLog]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
        schema = None
    else:
        url = str(request.getfixturevalue("postgres_url"))
        schema = f"feature_test_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(url)
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        await admin.close()
        engine = create_engine(url, connect_args={"server_settings": {"search_path": schema}})
    await migrate(engine, [MIGRATIONS])
    await migrate(engine, [MIGRATIONS])  # idempotent
    activity_log = SqlActivityLog(
        engine, instance_id="replica-a", policy=LatenessPolicy(timedelta(days=14))
    )
    try:
        yield activity_log
    finally:
        await engine.dispose()
        if schema is not None:
            admin = await asyncpg.connect(url)
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()


class MemoryStore:
    """A feature store fake: keeps what was written; can be told to fail."""

    def __init__(self) -> None:
        self.writes: list[list[FeatureRow]] = []
        self.fail = False

    async def write(self, rows: Sequence[FeatureRow]) -> None:
        if self.fail:
            raise ConnectionError("online store down")
        self.writes.append(list(rows))

    async def online(self, customer_ids: Sequence[str]) -> OnlineFeatures:
        raise NotImplementedError


class MemoryPublisher:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event, *, event_id: str | None = None) -> str:
        self.events.append(event)
        return str(len(self.events))


async def test_admission_outcomes(log: SqlActivityLog) -> None:
    assert (await log.admit(record("r1", "c1", 20))).outcome is AdmissionOutcome.ACCEPTED
    assert (await log.admit(record("r1", "c1", 20))).outcome is AdmissionOutcome.DUPLICATE
    late = await log.admit(record("r0", "c1", 5))  # 15 days behind the newest: too late
    assert late.outcome is AdmissionOutcome.TOO_LATE
    assert late.newest_before == T0 + timedelta(days=20)
    assert (await log.admit(record("r2", "c1", 6))).outcome is AdmissionOutcome.ACCEPTED
    assert (await log.admit(record("r3", "c2", 0))).outcome is AdmissionOutcome.ACCEPTED
    histories = await log.histories(["c1", "c2", "c3"])
    assert [item.record_id for item in histories["c1"].records] == ["r2", "r1"]
    assert histories["c1"].records[0] == record("r2", "c1", 6)  # round trip, aware UTC
    assert len(histories["c3"]) == 0
    assert await log.pending_count() == 2


async def test_claims_are_exclusive_until_released_or_expired(log: SqlActivityLog) -> None:
    for index in range(3):
        await log.admit(record(f"r{index}", f"c{index}", index))
    first = await log.claim(2, LEASE)
    assert [item.customer_id for item in first] == ["c0", "c1"]  # oldest first
    assert [item.customer_id for item in await log.claim(5, LEASE)] == ["c2"]
    assert await log.claim(5, LEASE) == []
    await log.release(first)
    assert len(await log.claim(5, LEASE)) == 2
    later = datetime.now(UTC) + 2 * LEASE  # every lease ran out: claimable again
    assert len(await log.claim(5, LEASE, now=later)) == 3


async def test_materialize_writes_rows_publishes_and_settles(log: SqlActivityLog) -> None:
    store, publisher = MemoryStore(), MemoryPublisher()
    await log.admit(record("r1", "c1", 0))
    await log.admit(record("r3", "c1", 20))
    await log.admit(record("r9", "c2", 3))
    claimed, summary = await materialize_pending(
        log=log, store=store, publisher=publisher, max_customers=10, lease=LEASE
    )
    assert claimed == 2
    assert summary is not None
    assert (summary.entity_count, summary.rows_written) == (2, 3)
    assert publisher.events == [summary]
    assert isinstance(publisher.events[0], FeaturesMaterialized)
    assert await log.pending_count() == 0

    # A late record re-emits the rows at and after it, nothing before.
    await log.admit(record("r2", "c1", 10, tickets=4))
    await materialize_pending(
        log=log, store=store, publisher=publisher, max_customers=10, lease=LEASE
    )
    rewritten = store.writes[-1]
    assert [(row.customer_id, (row.event_timestamp - T0).days) for row in rewritten] == [
        ("c1", 10),
        ("c1", 20),
    ]
    expected = CustomerHistory(
        "c1", [record("r1", "c1", 0), record("r2", "c1", 10, 4), record("r3", "c1", 20)]
    ).latest_row()
    assert rewritten[-1] == expected


async def test_a_failed_write_leaves_the_customers_pending(log: SqlActivityLog) -> None:
    store, publisher = MemoryStore(), MemoryPublisher()
    await log.admit(record("r1", "c1", 0))
    store.fail = True
    with pytest.raises(ConnectionError):
        await materialize_pending(
            log=log, store=store, publisher=publisher, max_customers=10, lease=LEASE
        )
    assert publisher.events == []
    store.fail = False
    claimed, summary = await materialize_pending(
        log=log, store=store, publisher=publisher, max_customers=10, lease=LEASE
    )
    assert (claimed, summary is not None) == (1, True)
    assert await log.pending_count() == 0


async def test_a_record_admitted_during_a_write_stays_pending(log: SqlActivityLog) -> None:
    await log.admit(record("r1", "c1", 0))
    claimed = await log.claim(10, LEASE)
    await log.admit(record("r2", "c1", 1))  # arrives while the write is in flight
    await log.settle(claimed)
    again = await log.claim(10, LEASE)
    assert [item.customer_id for item in again] == ["c1"]
    assert again[0].since == T0  # the earlier since is kept: a superset is rewritten


async def test_old_records_are_pruned_after_a_write(log: SqlActivityLog) -> None:
    store, publisher = MemoryStore(), MemoryPublisher()
    await log.admit(record("old", "c1", 0))
    await log.admit(record("new", "c1", 200))
    await materialize_pending(
        log=log, store=store, publisher=publisher, max_customers=10, lease=LEASE
    )
    histories = await log.histories(["c1"])
    assert [item.record_id for item in histories["c1"].records] == ["new"]


async def test_a_batch_is_admitted_in_order_in_one_transaction(log: SqlActivityLog) -> None:
    admissions = await log.admit_many(
        [
            record("b1", "c1", 20),
            record("b1", "c1", 20),  # the same record twice in one batch
            record("b0", "c1", 5),  # too late against the record admitted just before
            record("b2", "c2", 1),
        ]
    )
    assert [a.outcome for a in admissions] == [
        AdmissionOutcome.ACCEPTED,
        AdmissionOutcome.DUPLICATE,
        AdmissionOutcome.TOO_LATE,
        AdmissionOutcome.ACCEPTED,
    ]
    assert await log.pending_count() == 2


def test_summary_event_id_names_the_work_not_the_attempt() -> None:
    from feature.domain.materialization import PendingCustomer
    from feature.service import summary_event_id

    since = datetime(2026, 1, 1, tzinfo=UTC)
    one = [PendingCustomer("c1", since, 3), PendingCustomer("c2", since, 1)]
    assert summary_event_id(one) == summary_event_id(list(reversed(one)))
    assert summary_event_id(one) != summary_event_id([PendingCustomer("c1", since, 4), one[1]])
