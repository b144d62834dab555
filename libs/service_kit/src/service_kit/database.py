"""One async SQLAlchemy engine factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, Table, TypeDecorator, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def async_url(url: str) -> URL:
    """Map a plain ``sqlite:///`` or ``postgresql://`` URL to its async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {url!r}: use sqlite:/// or postgresql://")
    return parsed.set(drivername=_ASYNC_DRIVERS[backend])


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """Create an async engine for ``url`` without connecting; a SQLite file's folder is
    created on first connect if missing.

    SQLite runs in WAL mode with a busy timeout so a reader never blocks the writer and a
    short write lock waits instead of failing.
    """
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed, **options)
        database = parsed.database

        @event.listens_for(engine.sync_engine, "do_connect")
        def _create_folder(*_args: Any) -> None:
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(parsed, pool_pre_ping=True, **options)


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both databases (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every stored time is timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def dialect_insert(engine: AsyncEngine) -> Callable[[Table], Any]:
    """The INSERT construct of ``engine``'s dialect, which has ``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` on both SQLite and PostgreSQL."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
