"""``CustomerFeatureStore``: the one adapter every service uses for the customer features.

The feature service ``write()``s rows; the trainer reads ``historical()`` (point-in-time
correct); the predictor reads ``online()``. Every method is synchronous (Feast is): call
them from a thread (``asyncio.to_thread``) in async code. One instance may be shared by
threads: Feast calls are serialised by a lock, because the SQLite online store shares one
connection between threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
from feast import FeatureStore
from feast.errors import FeastObjectNotFoundException, ProjectNotFoundException
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

from churn_features.config import PostgresLocation, repo_config
from churn_features.definitions import customer, customer_activity_view, offline_source
from churn_features.domain import (
    ENTITY_JOIN_KEY,
    EVENT_TIMESTAMP,
    FEATURE_DTYPES,
    FEATURE_NAMES,
    FEATURE_VIEW_NAME,
    FEATURE_VIEW_TTL,
    FEATURE_VIEW_VERSION,
    FeatureRow,
    FeatureValue,
    OnlineFeatures,
)
from churn_features.offline import (
    ParquetOfflineRows,
    PostgresOfflineRows,
    point_in_time_join,
    rows_to_table,
)
from churn_features.settings import FeatureStoreSettings
from service_kit import DependencyNotReady

if TYPE_CHECKING:
    from feast import FeatureView

logger = logging.getLogger(__name__)

_ROW_POSITION = "churn_features_row"
_PRESENT = FieldStatus.PRESENT
_CASTS: dict[str, Callable[[Any], FeatureValue]] = {"int64": int, "float64": float, "string": str}
_PROBE_ID = "__readiness_probe__"


class CustomerFeatureStore:
    """The customer features in the store of ``settings.profile``. Building it does no I/O."""

    def __init__(self, settings: FeatureStoreSettings) -> None:
        self.settings = settings
        self.feature_view_name = FEATURE_VIEW_NAME
        self.feature_view_version = FEATURE_VIEW_VERSION
        self._view: FeatureView = customer_activity_view(offline_source(settings))
        self._offline: ParquetOfflineRows | PostgresOfflineRows
        if settings.profile == "production":
            assert settings.postgres_url is not None
            location = PostgresLocation.parse(settings.postgres_url.get_secret_value())
            self._offline = PostgresOfflineRows(location.conninfo(), settings.offline_table)
        else:
            self._offline = ParquetOfflineRows(settings.offline_dir)
        self._feast: FeatureStore | None = None
        self._lock = threading.RLock()  # Feast calls (the SQLite online store's connection)
        self._offline_lock = threading.Lock()  # offline appends (and their file merges)
        self._refs = [f"{FEATURE_VIEW_NAME}:{name}" for name in FEATURE_NAMES]

    @property
    def feast(self) -> FeatureStore:
        """The underlying Feast ``FeatureStore`` (for the CLI-like things Feast does)."""
        with self._lock:
            if self._feast is None:
                if self.settings.profile == "dev":
                    self.settings.data_dir.mkdir(parents=True, exist_ok=True)
                self._feast = FeatureStore(config=repo_config(self.settings))
            return self._feast

    def apply(self) -> None:
        """Register the entity and the view, create the online tables and the offline
        location. Idempotent: applying the same definitions again changes nothing."""
        with self._lock, self._offline_lock:
            self._offline.ensure()
            self.feast.apply([customer, self._view])
            if self.settings.profile == "dev":
                # Readers in other processes (predictors) never wait for the writer.
                with sqlite3.connect(self.settings.online_path) as connection:
                    connection.execute("PRAGMA journal_mode=WAL")
        logger.info(
            "feature store applied",
            extra={
                "profile": self.settings.profile,
                "project": self.settings.project,
                "feature_view": FEATURE_VIEW_NAME,
                "version": FEATURE_VIEW_VERSION,
            },
        )

    def write(self, rows: Sequence[FeatureRow], *, created: datetime | None = None) -> None:
        """Append ``rows`` to the offline store and put each customer's newest row (by
        event time) in the online store.

        ``created`` (default: now) stamps the rows: in point-in-time joins a row replaces
        an older-created row of the same customer and event time. The rows given for a
        customer must include its current row (the one as of its latest record), which
        is what the online store then serves.
        """
        if not rows:
            return
        created = created or datetime.now(UTC)
        newest: dict[str, FeatureRow] = {}
        for row in rows:
            held = newest.get(row.customer_id)
            if held is None or row.event_timestamp >= held.event_timestamp:
                newest[row.customer_id] = row
        online_frame = rows_to_table(list(newest.values()), created).to_pandas()
        with self._offline_lock:
            self._offline.append(rows, created)
        with self._lock:
            self.feast.write_to_online_store(FEATURE_VIEW_NAME, online_frame)

    def online(self, customer_ids: Sequence[str]) -> OnlineFeatures:
        """Current features of ``customer_ids`` (duplicates asked once). Customers the online
        store has no row for are listed in ``unknown``, never filled with defaults."""
        wanted = list(dict.fromkeys(customer_ids))
        if not wanted:
            return OnlineFeatures(features={}, as_of={}, unknown=())
        with self._lock:
            response = self.feast.get_online_features(
                features=self._refs,
                entity_rows=[{ENTITY_JOIN_KEY: customer_id} for customer_id in wanted],
            )
        proto = response.proto
        columns = dict(zip(proto.metadata.feature_names.val, proto.results, strict=True))
        values = {name: list(columns[name].values) for name in FEATURE_NAMES}
        statuses = {name: list(columns[name].statuses) for name in FEATURE_NAMES}
        stamps = list(columns[FEATURE_NAMES[0]].event_timestamps)
        features: dict[str, dict[str, FeatureValue]] = {}
        as_of: dict[str, datetime] = {}
        unknown: list[str] = []
        for index, customer_id in enumerate(wanted):
            row: dict[str, FeatureValue] = {}
            for name in FEATURE_NAMES:
                value = values[name][index]
                kind = value.WhichOneof("val")
                # Known = every feature present with a value (rows are always written
                # whole). Statuses alone do not tell: Feast 0.67's Redis store answers
                # PRESENT with empty values for a key it does not have.
                if kind is None or statuses[name][index] != _PRESENT:
                    break
                row[name] = _CASTS[FEATURE_DTYPES[name]](getattr(value, kind))
            if len(row) < len(FEATURE_NAMES) or index >= len(stamps):
                unknown.append(customer_id)
                continue
            features[customer_id] = row
            as_of[customer_id] = stamps[index].ToDatetime(tzinfo=UTC)
        return OnlineFeatures(features=features, as_of=as_of, unknown=tuple(unknown))

    def historical(self, entity_df: pd.DataFrame) -> pd.DataFrame:
        """Point-in-time correct features for training.

        ``entity_df`` has ``customer_id`` and ``event_timestamp`` (the label time; naive
        values are taken as UTC) and any other columns (labels). Each row gets the
        features as they were at its own time: the newest row of its customer at or
        before it (and at most the view's TTL older), the latest-created one among rows
        at the same event time; nothing from after it. The result keeps every input row,
        in order, with its index and columns, plus one column per feature: float64 for
        numbers (NaN where the customer had no row yet), object for strings (None).
        """
        missing = {ENTITY_JOIN_KEY, EVENT_TIMESTAMP} - set(entity_df.columns)
        if missing:
            raise ValueError(f"entity_df lacks column(s) {sorted(missing)}")
        clashing = set(FEATURE_NAMES) & set(entity_df.columns)
        if clashing:
            raise ValueError(f"entity_df already has feature column(s) {sorted(clashing)}")
        if entity_df[ENTITY_JOIN_KEY].isna().any() or entity_df[EVENT_TIMESTAMP].isna().any():
            raise ValueError("entity_df has rows without customer_id or event_timestamp")
        keys = pd.DataFrame(
            {
                ENTITY_JOIN_KEY: entity_df[ENTITY_JOIN_KEY].astype(str).reset_index(drop=True),
                EVENT_TIMESTAMP: pd.to_datetime(entity_df[EVENT_TIMESTAMP], utc=True).reset_index(
                    drop=True
                ),
            }
        )
        if self.settings.profile == "production":
            joined = self._historical_postgres(keys)
        else:
            joined = self._historical_parquet(keys)
        result = entity_df.copy()
        for name in FEATURE_NAMES:
            values = joined[name].to_numpy()
            if FEATURE_DTYPES[name] == "string":
                result[name] = pd.Series(values, index=result.index, dtype=object).where(
                    pd.notna(values), None
                )
            else:
                result[name] = pd.to_numeric(
                    pd.Series(values, index=result.index), errors="raise"
                ).astype("float64")
        return result

    def ping(self) -> None:
        """Raise unless the online store answers a lookup."""
        self.online([_PROBE_ID])

    async def ready(self) -> None:
        """Readiness check: the online store answers a lookup (in a worker thread)."""
        try:
            await asyncio.to_thread(self.ping)
        except Exception as error:
            raise DependencyNotReady(f"online feature store did not answer: {error}") from error

    def teardown(self) -> None:
        """Delete this project's online data, registry entries and offline rows (tests,
        decommissioning). Unlike Feast's ``FeatureStore.teardown``, which deletes *every*
        project of the registry, it touches nothing of other projects."""
        with self._lock:
            feast = self.feast
            views = feast.list_feature_views()
            entities = feast.list_entities()
            # Feast has no public per-project teardown of the online store.
            feast._get_provider().teardown_infra(self.settings.project, views, entities)
            if isinstance(self._offline, PostgresOfflineRows):
                self._offline.drop()
            with contextlib.suppress(FeastObjectNotFoundException, ProjectNotFoundException):
                feast.registry.delete_project(self.settings.project, commit=True)

    def _historical_parquet(self, keys: pd.DataFrame) -> pd.DataFrame:
        assert isinstance(self._offline, ParquetOfflineRows)
        until = keys[EVENT_TIMESTAMP].max() if len(keys) else None
        table = self._offline.read(
            customer_ids=set(keys[ENTITY_JOIN_KEY]),
            until=until.to_pydatetime() if until is not None else None,
        )
        rows = table.to_pandas()
        return point_in_time_join(keys, rows, FEATURE_VIEW_TTL)

    def _historical_postgres(self, keys: pd.DataFrame) -> pd.DataFrame:
        if keys.empty:
            return keys.assign(**{name: pd.Series(dtype=object) for name in FEATURE_NAMES})
        frame = keys.assign(**{_ROW_POSITION: range(len(keys))})
        with self._lock:
            job = self.feast.get_historical_features(entity_df=frame, features=self._refs)
        joined = cast(pd.DataFrame, job.to_df())
        joined = joined.sort_values(_ROW_POSITION, kind="stable").reset_index(drop=True)
        if len(joined) != len(keys) or (joined[_ROW_POSITION].to_numpy() != range(len(keys))).any():
            raise RuntimeError(
                f"the offline store returned {len(joined)} rows for {len(keys)} entity rows"
            )
        return joined
