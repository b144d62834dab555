"""Schema migrations of a service's state database, with Alembic.

Every part that owns tables in a service's database (the kit: processed event ids and the
outbox; a library such as the label log; the service itself) keeps its revisions in a
``migrations`` package of its own, as one Alembic branch (``branch_labels``). A service's
database holds the branches of the parts it uses; :func:`migrate` upgrades every one of
them to its head, on SQLite and PostgreSQL alike, under a lock (a PostgreSQL advisory
lock, a file lock beside a SQLite file) so that replicas starting together migrate once.

The first revision of each branch creates its tables ``IF NOT EXISTS``: a database created
before migrations existed (by ``metadata.create_all``) is adopted as it is, then upgraded.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service_kit import idempotency, outbox

logger = logging.getLogger(__name__)

_ADVISORY_LOCK = 0x6D6C6F7073  # "mlops": one lock per database, whichever service
_ENVIRONMENT = "service_kit.migrations"


@dataclass(frozen=True)
class Migrations:
    """One part's revisions (one Alembic branch) and the tables they make, as the part's
    code reads them (``tests/test_schema_migrations.py`` checks that the two agree)."""

    package: str
    """The package holding the revision files."""
    tables: MetaData

    @property
    def folder(self) -> Path:
        """Where the revision files are."""
        return Path(str(resources.files(self.package)))


def tables_of(*metadata: MetaData) -> MetaData:
    """The tables of several ``MetaData`` in one (a part whose tables several modules own)."""
    combined = MetaData()
    for each in metadata:
        for table in each.tables.values():
            table.to_metadata(combined)
    return combined


KIT = Migrations(
    "service_kit.migrations.versions", tables_of(idempotency.metadata, outbox.metadata)
)
"""The kit's own tables, in every service's database: processed event ids, the outbox."""


def alembic_config(parts: Sequence[Migrations], connection: Connection | None = None) -> Config:
    """An Alembic configuration over ``parts`` (the kit's first), run on ``connection``."""
    config = Config()
    environment = Path(str(resources.files(_ENVIRONMENT)))
    config.set_main_option("script_location", str(environment))
    config.set_main_option("path_separator", "os")
    locations = [KIT, *(part for part in parts if part != KIT)]
    config.set_main_option(
        "version_locations", os.pathsep.join(str(part.folder) for part in locations)
    )
    config.attributes["connection"] = connection
    return config


Revisions = tuple[set[str], set[str]]
"""The revisions a database was at before a migration, and after it."""


async def migrate(engine: AsyncEngine, parts: Sequence[Migrations]) -> Revisions:
    """Upgrade the database of ``engine`` to the head of every branch of ``parts`` (and the
    kit's); returns the revisions it was at before and after."""
    async with _file_lock(engine), engine.connect() as connection:
        revisions: Revisions = await connection.run_sync(_upgrade, parts)
        await connection.commit()
    return revisions


async def current(engine: AsyncEngine) -> set[str]:
    """The revisions the database is at (empty: never migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


def _current(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


def _upgrade(connection: Connection, parts: Sequence[Migrations]) -> Revisions:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK})
    try:
        before = _current(connection)
        command.upgrade(alembic_config(parts, connection), "heads")
        after = _current(connection)
    finally:
        if postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK})
    if after != before:
        logger.info(
            "database migrated", extra={"from": sorted(before) or "nothing", "to": sorted(after)}
        )
    return before, after


@contextlib.asynccontextmanager
async def _file_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """An exclusive lock on ``<database>.migrate.lock`` beside a SQLite file (replicas of a
    service share the file), waited for in a worker thread; nothing for other databases."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    path = Path(database).with_suffix(".migrate.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
