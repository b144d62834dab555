"""Every service database's schema comes from Alembic revisions, on SQLite and PostgreSQL:
a fresh database migrates to exactly the tables the code reads, an older database with
rows in it upgrades and loses nothing, and a database made before migrations existed is
adopted."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.plan import SERVICES
from mlops_contracts import (
    ModelPromoted,
    SuppressionReason,
    TrainingFailed,
    TrainingReason,
    TrainingRequested,
    TrainingSuppressed,
)
from service_kit.database import UtcDateTime, create_engine
from service_kit.outbox import Outbox
from service_kit.schema import Migrations, alembic_config, current, migrate

pytestmark = pytest.mark.connected  # PostgreSQL as well as SQLite

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def service_migrations(package: str, tmp_path: Path) -> list[Migrations]:
    """The parts of a service's database, as its own declaration has them (no I/O)."""
    [spec] = [spec for spec in SERVICES if spec.package == package]
    settings = spec.settings_type()(data_dir=tmp_path, instance_id="t")
    app = importlib.import_module(f"{package}.main").create_app(settings)
    parts: list[Migrations] = app.state.runtime.migrations
    return parts


def schema_differences(connection: Connection, parts: Sequence[Migrations]) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the tables the
    parts' code reads (nothing, when revisions and code agree)."""
    wanted = MetaData()
    for part in parts:
        for table in part.tables.tables.values():
            table.to_metadata(wanted)
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_name": lambda name, kind, _parent: name != "alembic_version",
        },
    )
    return list(compare_metadata(context, wanted))


@pytest.mark.parametrize("package", sorted(spec.package for spec in SERVICES))
async def test_a_fresh_database_migrates_to_the_tables_the_code_reads(
    package: str, database_url: str, tmp_path: Path
) -> None:
    parts = service_migrations(package, tmp_path)
    engine = create_engine(database_url)
    try:
        before, after = await migrate(engine, parts)
        assert before == set()
        assert after == await current(engine)
        assert await migrate(engine, parts) == (after, after)  # at the heads: nothing to do
        async with engine.connect() as connection:
            assert await connection.run_sync(schema_differences, parts) == []
    finally:
        await engine.dispose()


async def upgrade_to(engine: AsyncEngine, parts: Sequence[Migrations], *targets: str) -> None:
    """Bring the database to older revisions (as an earlier release left it)."""

    def run(connection: Connection) -> None:
        for target in targets:
            command.upgrade(alembic_config(parts, connection), target)

    async with engine.connect() as connection:
        await connection.run_sync(run)
        await connection.commit()


async def rows(engine: AsyncEngine, query: str) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(text(query))).mappings())


async def columns(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as connection:
        found = await connection.run_sync(lambda c: inspect(c).get_columns(table))
    return {column["name"] for column in found}


async def insert(engine: AsyncEngine, table: str, *values: dict[str, Any]) -> None:
    """Rows as an earlier release wrote them (times through the same column type)."""
    columns = [
        sa.column(name, UtcDateTime if isinstance(value, datetime) else None)
        for name, value in values[0].items()
    ]
    async with engine.begin() as connection:
        await connection.execute(sa.insert(sa.table(table, *columns)), list(values))


def promoted(version: int) -> ModelPromoted:
    return ModelPromoted(
        model_name="churn",
        model_version=version,
        model_uri=f"models:/churn/{version}",
        sha256="a" * 64,
        gate_metric="roc_auc",
        challenger_metric=0.8,
        min_margin=0.0,
        holdout_rows=500,
        promoted_at=T0,
    )


@pytest.fixture
async def older_registry(database_url: str, tmp_path: Path) -> tuple[AsyncEngine, list[Migrations]]:
    parts = service_migrations("registry", tmp_path)
    engine = create_engine(database_url)
    await upgrade_to(engine, parts, "service_kit_0001", "churn_labels_0001", "registry_0001")
    decided = {"decision_type": ModelPromoted.event_type, "decided_at": T0}
    await insert(
        engine,
        "gate_decisions",
        # Applied and announced; applied but never announced (a crash); not applied yet.
        {
            **decided,
            "model_name": "churn",
            "model_version": 1,
            "decision": promoted(1).model_dump_json(),
            "applied": True,
            "published": True,
        },
        {
            **decided,
            "model_name": "churn",
            "model_version": 2,
            "decision": promoted(2).model_dump_json(),
            "applied": True,
            "published": False,
        },
        {
            **decided,
            "model_name": "churn",
            "model_version": 3,
            "decision": promoted(3).model_dump_json(),
            "applied": False,
            "published": False,
        },
    )
    await insert(
        engine,
        "processed_events",
        {"consumer": "registry:training.results", "event_id": "e-1", "processed_at": T0},
    )
    return engine, parts


async def test_an_older_registry_database_upgrades_and_its_unannounced_decision_goes_out(
    older_registry: tuple[AsyncEngine, list[Migrations]], recording_publisher: Any
) -> None:
    engine, parts = older_registry
    try:
        before, after = await migrate(engine, parts)
        assert before == {"service_kit_0001", "churn_labels_0001", "registry_0001"}
        assert await migrate(engine, parts) == (after, after)
        decisions = await rows(engine, "SELECT * FROM gate_decisions ORDER BY model_version")
        assert [(d["model_version"], bool(d["applied"])) for d in decisions] == [
            (1, True),
            (2, True),
            (3, False),
        ]
        assert "published" not in await columns(engine, "gate_decisions")
        assert len(await rows(engine, "SELECT * FROM processed_events")) == 1
        # The decision that was applied but never announced: in the outbox, sent once.
        assert await Outbox(engine, recording_publisher).relay() == 1
        assert recording_publisher.published == [(promoted(2), "registry:churn:2:decision", None)]
    finally:
        await engine.dispose()


async def test_an_older_trainer_database_upgrades_and_its_unpublished_outcome_goes_out(
    database_url: str, tmp_path: Path, recording_publisher: Any
) -> None:
    parts = service_migrations("trainer_gpu", tmp_path)
    engine = create_engine(database_url)
    failed = TrainingFailed(
        idempotency_key="k2", model_name="churn", error_type="X", reason="no", failed_at=T0
    )
    request = TrainingRequested(
        idempotency_key="k1",
        model_name="churn",
        reason=TrainingReason.MANUAL,
        data_window_start=T0 - timedelta(days=10),
        data_window_end=T0,
        requested_at=T0,
    )
    common = {"request": request.model_dump_json(), "accepted_at": T0, "updated_at": T0}
    try:
        await upgrade_to(engine, parts, "service_kit_0001", "churn_labels_0001", "trainer_gpu_0001")
        await insert(
            engine,
            "training_requests",
            # Waiting; failed and never announced.
            {
                **common,
                "idempotency_key": "k1",
                "request_event_id": "e-1",
                "correlation_id": None,
                "status": "pending",
                "run_id": None,
                "outcome_type": None,
                "outcome": None,
                "published": False,
            },
            {
                **common,
                "idempotency_key": "k2",
                "request_event_id": "e-2",
                "correlation_id": "c-2",
                "status": "failed",
                "run_id": None,
                "outcome_type": failed.event_type,
                "outcome": failed.model_dump_json(),
                "published": False,
            },
        )
        await migrate(engine, parts)
        kept = await rows(engine, "SELECT * FROM training_requests ORDER BY idempotency_key")
        assert [(r["idempotency_key"], r["status"]) for r in kept] == [
            ("k1", "pending"),
            ("k2", "failed"),
        ]
        assert "published" not in await columns(engine, "training_requests")
        assert await Outbox(engine, recording_publisher).relay() == 1
        assert recording_publisher.published == [(failed, "trainer-gpu:k2:outcome", "c-2")]
    finally:
        await engine.dispose()


async def test_an_older_trigger_database_upgrades_and_its_unannounced_decision_goes_out(
    database_url: str, tmp_path: Path, recording_publisher: Any
) -> None:
    parts = service_migrations("retrain_trigger", tmp_path)
    engine = create_engine(database_url)
    decision = {
        "model_name": "churn",
        "signal": "drift",
        "outcome": "suppressed",
        "reason": SuppressionReason.TOO_FEW_CONSECUTIVE_WINDOWS.value,
        "detail": "flagged window 1 of 3",
        "triggering_event_ids": json.dumps(["e-1"]),
        "idempotency_key": None,
        "data_window_start": None,
        "data_window_end": None,
        "requested_by": "retrain-trigger",
        "decided_at": T0,
    }
    try:
        await upgrade_to(engine, parts, "service_kit_0001", "retrain_trigger_0001")
        await insert(
            engine,
            "retrain_trigger_decisions",
            # Announced and sent; announced, never sent; silent.
            {**decision, "decision_id": "drift-churn-w1", "announce": True, "published": True},
            {**decision, "decision_id": "drift-churn-w2", "announce": True, "published": False},
            {**decision, "decision_id": "drift-churn-w3", "announce": False, "published": False},
        )
        await migrate(engine, parts)
        kept = await rows(engine, "SELECT decision_id FROM retrain_trigger_decisions ORDER BY seq")
        assert [r["decision_id"] for r in kept] == [f"drift-churn-w{n}" for n in (1, 2, 3)]
        assert "published" not in await columns(engine, "retrain_trigger_decisions")
        assert await Outbox(engine, recording_publisher).relay() == 1
        [(event, event_id, _)] = recording_publisher.published
        assert isinstance(event, TrainingSuppressed)
        assert event.decision_id == "drift-churn-w2"
        assert event_id == "retrain-trigger-drift-churn-w2"
    finally:
        await engine.dispose()


async def test_a_database_made_before_migrations_existed_is_adopted_with_its_rows(
    older_registry: tuple[AsyncEngine, list[Migrations]],
) -> None:
    engine, parts = older_registry
    try:
        async with engine.begin() as connection:  # what `metadata.create_all` left
            await connection.execute(text("DROP TABLE alembic_version"))
        assert await current(engine) == set()
        _, after = await migrate(engine, parts)
        assert await migrate(engine, parts) == (after, after)
        assert len(await rows(engine, "SELECT * FROM gate_decisions")) == 3
        assert len(await rows(engine, "SELECT * FROM outbox")) == 1
    finally:
        await engine.dispose()


async def test_replicas_starting_together_migrate_once(database_url: str, tmp_path: Path) -> None:
    parts = service_migrations("trainer_gpu", tmp_path)
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(engine, parts) for engine in engines))
        first, *others = sorted(results, key=lambda result: len(result[0]))
        assert first[0] == set()  # one replica migrated...
        assert others == [(first[1], first[1])] * 2  # ...the others found it done
    finally:
        for engine in engines:
            await engine.dispose()
