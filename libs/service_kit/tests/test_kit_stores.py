"""One suite for every ProcessedEvents implementation and the engine factory: the fake,
real SQLite, real PostgreSQL (connected)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from service_kit import InMemoryProcessedEvents, ProcessedEvents, SqlProcessedEvents
from service_kit.database import async_url, create_engine, ping
from service_kit.schema import migrate

BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.connected)]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[ProcessedEvents]:
    if request.param == "memory":
        yield InMemoryProcessedEvents()
        return
    url = (
        request.getfixturevalue("sqlite_url")
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    await migrate(engine, [])  # the kit's tables
    await migrate(engine, [])  # idempotent
    try:
        yield SqlProcessedEvents(engine)
    finally:
        await engine.dispose()


async def test_unseen_then_seen(store: ProcessedEvents) -> None:
    consumer, event_id = f"c-{uuid.uuid4().hex}", uuid.uuid4().hex
    assert not await store.seen(consumer, event_id)
    await store.mark(consumer, event_id)
    assert await store.seen(consumer, event_id)


async def test_mark_twice_is_harmless(store: ProcessedEvents) -> None:
    consumer, event_id = f"c-{uuid.uuid4().hex}", uuid.uuid4().hex
    await store.mark(consumer, event_id)
    await store.mark(consumer, event_id)
    assert await store.seen(consumer, event_id)


async def test_ids_are_per_consumer(store: ProcessedEvents) -> None:
    event_id = uuid.uuid4().hex
    await store.mark("ingest", event_id)
    assert not await store.seen(f"other-{uuid.uuid4().hex}", event_id)


async def test_bulk_lookup_and_mark(store: ProcessedEvents) -> None:
    if not hasattr(store, "seen_many"):
        pytest.fail("every store implements the bulk interface")
    consumer = f"c-{uuid.uuid4().hex}"
    ids = [f"id-{n}" for n in range(12000)]  # many statements, past any bind-parameter cap
    await store.mark_many(consumer, ids[:11000])
    await store.mark_many(consumer, ids[10000:11000])  # overlap is harmless
    assert await store.seen_many(consumer, ids) == set(ids[:11000])
    assert await store.seen_many(consumer, []) == set()


async def test_sql_store_forgets_old_ids(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    store = SqlProcessedEvents(engine)
    await migrate(engine, [])
    await store.mark("c", "old")
    assert await store.forget_older_than(timedelta(seconds=-1)) == 1
    assert not await store.seen("c", "old")
    await engine.dispose()


def test_plain_urls_map_to_async_drivers() -> None:
    assert async_url("sqlite:///a/b.db").drivername == "sqlite+aiosqlite"
    assert async_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    with pytest.raises(ValueError, match="unsupported database"):
        async_url("mysql://u@h/db")


async def test_sqlite_file_and_folder_are_created(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "deep" / "state.db"
    engine = create_engine(f"sqlite:///{path}")
    await ping(engine)
    assert path.exists()
    await engine.dispose()


@pytest.mark.connected
async def test_postgres_engine_answers(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    await ping(engine)
    await engine.dispose()
