"""The offline store's rows: appended by the feature service, joined point-in-time for
training.

Feast 0.67 has no append path that suits a stream: its file store's write rewrites the
whole parquet file on every call and its PostgreSQL store has none. So rows are appended
here, in the exact layout of the view's Feast source (a folder of parquet files in dev, a
table in production), and Feast keeps owning the definitions and the online store.

In dev the point-in-time join is done here too (pandas ``merge_asof``): Feast's dask-based
file store, measured on 0.67, drops entity rows (rows sharing a customer and timestamp are
collapsed, rows before the first feature row vanish) and breaks ties between rows at the
same event time without looking at ``created`` reliably, so corrections after late
records were ignored for about half of the rows. Production uses Feast's PostgreSQL
point-in-time SQL.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from psycopg import sql

from churn_features.domain import (
    CREATED_TIMESTAMP,
    ENTITY_JOIN_KEY,
    EVENT_TIMESTAMP,
    FEATURE_NAMES,
    FEATURES,
    FeatureDtype,
    FeatureRow,
)

logger = logging.getLogger(__name__)

_ARROW_TYPES: dict[FeatureDtype, pa.DataType] = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "string": pa.string(),
}
_POSTGRES_TYPES: dict[FeatureDtype, str] = {
    "int64": "BIGINT",
    "float64": "DOUBLE PRECISION",
    "string": "TEXT",
}

ROW_SCHEMA = pa.schema(
    [
        pa.field(ENTITY_JOIN_KEY, pa.string(), nullable=False),
        pa.field(EVENT_TIMESTAMP, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(CREATED_TIMESTAMP, pa.timestamp("us", tz="UTC"), nullable=False),
        *(pa.field(spec.name, _ARROW_TYPES[spec.dtype]) for spec in FEATURES),
    ]
)
"""Columns of an offline row, in order: the entity, the two timestamps, the features."""


def rows_to_table(rows: Sequence[FeatureRow], created: datetime) -> pa.Table:
    """Feature rows as an Arrow table of :data:`ROW_SCHEMA`."""
    columns: dict[str, list[Any]] = {
        ENTITY_JOIN_KEY: [row.customer_id for row in rows],
        EVENT_TIMESTAMP: [row.event_timestamp for row in rows],
        CREATED_TIMESTAMP: [created] * len(rows),
    }
    for name in FEATURE_NAMES:
        columns[name] = [row.values[name] for row in rows]
    return pa.table(columns, schema=ROW_SCHEMA)


class ParquetOfflineRows:
    """dev: append-only parquet files in one folder (the view's Feast ``FileSource``).

    Each append writes one new file (atomically: written under a hidden name, fsynced,
    then renamed, and the folder fsynced, so a power loss leaves no truncated file). So
    that a long run does not leave thousands of small files, files are merged in tiers:
    ``fanout`` files of level n become one file of level n+1, so every row is rewritten
    O(log_fanout N) times in all.

    Writers (append and its merges), in this process or others, take turns on an
    exclusive ``flock`` of ``<folder>/.lock``; readers take no lock.
    """

    LOCK_NAME = ".lock"
    """The writers' lock file in the folder (hidden: readers skip names starting with ".")."""

    def __init__(self, folder: Path, *, fanout: int = 16) -> None:
        self.folder = folder
        self.fanout = fanout

    def ensure(self) -> None:
        """Create the folder (idempotent)."""
        self.folder.mkdir(parents=True, exist_ok=True)

    def append(self, rows: Sequence[FeatureRow], created: datetime) -> None:
        """Append ``rows`` (one new file), then merge full tiers."""
        if rows:
            table = rows_to_table(rows, created)
            with self._writer_lock():
                self._write(table, level=0)
                self._compact()

    def read(
        self, customer_ids: Collection[str] | None = None, until: datetime | None = None
    ) -> pa.Table:
        """Every stored row (of ``customer_ids``, at or before ``until``)."""
        condition = None
        if customer_ids is not None:
            condition = ds.field(ENTITY_JOIN_KEY).isin(pa.array(list(customer_ids), pa.string()))
        if until is not None:
            before = ds.field(EVENT_TIMESTAMP) <= pa.scalar(until, pa.timestamp("us", tz="UTC"))
            condition = before if condition is None else condition & before
        for attempt in range(1, 6):
            try:
                dataset = ds.dataset(self.folder, schema=ROW_SCHEMA, format="parquet")
                return dataset.to_table(filter=condition)
            except FileNotFoundError:
                # A merge removed a file between listing and reading; list again.
                if attempt == 5:
                    raise
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def files(self) -> list[Path]:
        """The visible parquet files."""
        return sorted(self.folder.glob("L*.parquet"))

    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        # Opened per operation: flock belongs to the open file, so threads and processes
        # alike exclude each other; closing the file releases it.
        with open(self.folder / self.LOCK_NAME, "ab") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield

    def _write(self, table: pa.Table, level: int) -> Path:
        name = f"L{level}-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        hidden = self.folder / f".{name}.tmp"  # readers skip names starting with "."
        try:
            with open(hidden, "wb") as handle:
                pq.write_table(table, handle)
                handle.flush()
                os.fsync(handle.fileno())
            final = self.folder / name
            hidden.rename(final)
        except BaseException:
            hidden.unlink(missing_ok=True)
            raise
        self._sync_folder()
        return final

    def _sync_folder(self) -> None:
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _compact(self) -> None:
        level = 0
        while True:
            parts = sorted(self.folder.glob(f"L{level}-*.parquet"))
            if len(parts) < self.fanout:
                return
            merged = pa.concat_tables([pq.read_table(part, schema=ROW_SCHEMA) for part in parts])
            # The merged file is visible before the parts go: a reader in between sees
            # some rows twice, identical, which the point-in-time join deduplicates.
            self._write(merged, level=level + 1)
            for part in parts:
                part.unlink(missing_ok=True)
            self._sync_folder()
            logger.info(
                "merged offline parquet files",
                extra={"files": len(parts), "level": level + 1, "rows": merged.num_rows},
            )
            level += 1


class PostgresOfflineRows:
    """production: rows appended with COPY to the table of the view's ``PostgreSQLSource``."""

    def __init__(self, conninfo: str, table: str) -> None:
        self._conninfo = conninfo
        self.table = table

    def ensure(self) -> None:
        """Create the table and its (customer, event time) index (idempotent)."""
        columns = [
            sql.SQL("{} TEXT NOT NULL").format(sql.Identifier(ENTITY_JOIN_KEY)),
            sql.SQL("{} TIMESTAMPTZ NOT NULL").format(sql.Identifier(EVENT_TIMESTAMP)),
            sql.SQL("{} TIMESTAMPTZ NOT NULL").format(sql.Identifier(CREATED_TIMESTAMP)),
            *(
                sql.SQL("{} {}").format(
                    sql.Identifier(spec.name), sql.SQL(_POSTGRES_TYPES[spec.dtype])
                )
                for spec in FEATURES
            ),
        ]
        with psycopg.connect(self._conninfo) as connection:
            connection.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                    sql.Identifier(self.table), sql.SQL(", ").join(columns)
                )
            )
            connection.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}, {})").format(
                    sql.Identifier(f"{self.table}_entity_time"),
                    sql.Identifier(self.table),
                    sql.Identifier(ENTITY_JOIN_KEY),
                    sql.Identifier(EVENT_TIMESTAMP),
                )
            )

    def append(self, rows: Sequence[FeatureRow], created: datetime) -> None:
        """Append ``rows`` in one transaction."""
        if not rows:
            return
        names = [ENTITY_JOIN_KEY, EVENT_TIMESTAMP, CREATED_TIMESTAMP, *FEATURE_NAMES]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(self.table), sql.SQL(", ").join(map(sql.Identifier, names))
        )
        with (
            psycopg.connect(self._conninfo) as connection,
            connection.cursor() as cursor,
            cursor.copy(statement) as copy,
        ):
            for row in rows:
                copy.write_row(
                    (
                        row.customer_id,
                        row.event_timestamp,
                        created,
                        *(row.values[name] for name in FEATURE_NAMES),
                    )
                )

    def drop(self) -> None:
        """Drop the table (tests)."""
        with psycopg.connect(self._conninfo) as connection:
            connection.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(self.table))
            )


def point_in_time_join(entity_df: pd.DataFrame, rows: pd.DataFrame, ttl: timedelta) -> pd.DataFrame:
    """For each entity row, the feature values of the newest row of its customer with
    ``entity time - ttl <= event_timestamp <= entity time``; among rows at the same event
    time, the one created last. No such row: nulls.

    ``entity_df`` has ``customer_id`` and a timezone-aware UTC ``event_timestamp``; the
    result has its rows in the same order with :data:`FEATURE_NAMES` columns added.
    """
    left = pd.DataFrame(
        {
            "_position": range(len(entity_df)),
            ENTITY_JOIN_KEY: entity_df[ENTITY_JOIN_KEY].astype(str).to_numpy(),
            "_at": _utc_ns(entity_df[EVENT_TIMESTAMP]).reset_index(drop=True),
        }
    ).sort_values("_at", kind="stable")
    right = rows.sort_values([EVENT_TIMESTAMP, CREATED_TIMESTAMP], kind="stable")
    right = right.drop_duplicates([ENTITY_JOIN_KEY, EVENT_TIMESTAMP], keep="last")
    right = pd.DataFrame(
        {
            ENTITY_JOIN_KEY: right[ENTITY_JOIN_KEY].astype(str).reset_index(drop=True),
            "_at": _utc_ns(right[EVENT_TIMESTAMP]).reset_index(drop=True),
            **{name: right[name].reset_index(drop=True) for name in FEATURE_NAMES},
        }
    )
    joined = pd.merge_asof(
        left,
        right,
        on="_at",
        by=ENTITY_JOIN_KEY,
        direction="backward",
        allow_exact_matches=True,
        tolerance=pd.Timedelta(ttl),
    ).sort_values("_position")
    result = entity_df.copy()
    for name in FEATURE_NAMES:
        result[name] = joined[name].to_numpy()
    return result


def _utc_ns(column: pd.Series) -> pd.Series:
    return cast(pd.Series, pd.to_datetime(column, utc=True)).astype("datetime64[ns, UTC]")
