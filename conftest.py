"""Fixtures shared by every test folder: a real Kafka-protocol broker and real databases.

PostgreSQL- and Redis-backed tests skip on a developer machine without PostgreSQL, but FAIL when
``CI`` is set: a missing database must never turn into a green run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mesh.mlflow_server import free_port

REDIS_URL = os.environ.get("MLOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "MLOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Tansu broker (Kafka wire protocol over TCP) on a free port for the session."""
    from mesh.plan import broker_command

    port = free_port()
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(broker_command(port), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _postgres_reachable(url: str) -> str | None:
    import asyncpg

    async def probe() -> None:
        connection = await asyncpg.connect(url, timeout=3)
        await connection.close()

    try:
        # In a thread of its own: the fixture may be requested from inside a running loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, probe()).result()
    except Exception as error:  # any failure to connect means "not reachable"
        return f"{type(error).__name__}: {error}"
    return None


def _require(what: str, url: str, problem: str | None, variable: str) -> str:
    """``url`` when reachable; otherwise skip locally, but FAIL under CI."""
    if problem:
        message = f"{what} at {url} unreachable ({problem})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the {what}-backed tests", pytrace=False)
        pytest.skip(f"{message}; set {variable} to run these tests")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL URL for `connected` tests; fails under CI when unreachable."""
    return _require(
        "PostgreSQL", POSTGRES_URL, _postgres_reachable(POSTGRES_URL), "MLOPS_TEST_POSTGRES_URL"
    )


def _redis_reachable(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as error:  # any failure to connect means "not reachable"
        return f"{type(error).__name__}: {error}"
    return None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis URL for `connected` tests; fails under CI when unreachable."""
    return _require("Redis", REDIS_URL, _redis_reachable(REDIS_URL), "MLOPS_TEST_REDIS_URL")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A real SQLite database file in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture(scope="session")
def mlflow_tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server with a SQLite backend, shared by the session (tests
    use their own model names, so they do not see each other's versions)."""
    from mesh.mlflow_server import running_mlflow

    folder = tmp_path_factory.mktemp("mlflow")
    with running_mlflow(f"sqlite:///{folder / 'mlflow.db'}", folder) as url:
        yield url


@dataclass(frozen=True)
class ChurnHistory:
    """A simulated past in a real (dev profile) feature store: what the trainer and the
    registry read. ``labels`` are in observation order; the history ends at ``end``."""

    store_settings: Any
    labels: list[Any]
    label_events: list[Any]
    start: datetime
    end: datetime


@pytest.fixture(scope="session")
def churn_history(tmp_path_factory: pytest.TempPathFactory) -> ChurnHistory:
    """45 days of 800 simulated customers written straight into a Feast store (about 36k
    feature rows and 5k labels), built once per session; tests only read it."""
    os.environ.setdefault("FEAST_USAGE", "False")
    from churn_features import FeatureStoreSettings
    from churn_features.backfill import compute_backfill, write_backfill
    from churn_features.store import CustomerFeatureStore
    from simulator import SimulationConfig, generate_history

    end = datetime(2026, 10, 1, tzinfo=UTC)
    days = 45
    records = generate_history(days, end=end, config=SimulationConfig(customers=800, seed=11))
    backfill = compute_backfill(records)
    settings = FeatureStoreSettings(data_dir=tmp_path_factory.mktemp("churn-store"))
    store = CustomerFeatureStore(settings)
    store.apply()
    write_backfill(store, backfill)
    labels = sorted(backfill.labels, key=lambda label: (label.observed_at, label.record_id))
    return ChurnHistory(
        store_settings=settings,
        labels=labels,
        label_events=backfill.label_events,
        start=end - timedelta(days=days),
        end=end,
    )


class RecordingPublisher:
    """Stands in for ``service_kit.EventPublisher`` in component tests: keeps what was
    published (event, event id, correlation id); ``fail_next`` makes the next call raise."""

    def __init__(self) -> None:
        self.published: list[tuple[Any, str | None, str | None]] = []
        self.topics: list[str | None] = []
        """The explicit topic of each published event (None: its catalogue topic)."""
        self.fail_next = 0

    async def publish(
        self,
        event: Any,
        *,
        topic: str | None = None,
        correlation_id: str | None = None,
        event_id: str | None = None,
    ) -> str:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("broker unavailable (test)")
        self.published.append((event, event_id, correlation_id))
        self.topics.append(topic)
        return event_id or f"generated-{len(self.published)}"

    async def publish_all(self, outgoing: Any) -> None:
        for item in outgoing:
            for topic in (item.topic, item.copy_to) if item.copy_to else (item.topic,):
                await self.publish(
                    item.event,
                    topic=topic,
                    correlation_id=item.correlation_id,
                    event_id=item.event_id,
                )

    def events(self, kind: type[Any]) -> list[Any]:
        """The published events of one type, in order."""
        return [event for event, _, _ in self.published if isinstance(event, kind)]

    def ids(self, kind: type[Any]) -> list[str | None]:
        """The event ids of the published events of one type."""
        return [event_id for event, event_id, _ in self.published if isinstance(event, kind)]


@pytest.fixture
def recording_publisher() -> RecordingPublisher:
    """A publisher that records instead of sending."""
    return RecordingPublisher()


@dataclass
class ModelPlaneParts:
    """Real adapters for trainer and registry component tests: a SQLite state database
    (the trainer's and the registry's tables) holding ``churn_history``'s labels, its
    outbox (publishing to ``publisher``), the history's feature store, the MLflow server."""

    engine: Any
    labels: Any
    features: Any
    models: Any
    history: ChurnHistory
    publisher: RecordingPublisher
    outbox: Any
    model_names: set[str] = field(default_factory=lambda: {"churn"})
    """What the trainers may train: every name a test's ``request`` used."""

    def trainer(self, **config: Any) -> Any:
        """A trainer (CPU) over these parts; ``config`` overrides ``TrainingConfig``."""
        import torch
        from trainer_gpu.adapters.request_ledger import SqlRequestLedger
        from trainer_gpu.domain.training_config import TrainingConfig
        from trainer_gpu.service import Trainer

        return Trainer(
            ledger=SqlRequestLedger(self.engine, self.outbox),
            labels=self.labels,
            features=self.features,
            models=self.models,
            publisher=self.publisher,
            outbox=self.outbox,
            config=TrainingConfig(**{"max_epochs": 6, **config}),
            device=torch.device("cpu"),
            model_names=self.model_names,
        )

    def request(self, model_name: str, *, holdout_days: float = 5, **fields: Any) -> Any:
        """A training request over the history, leaving its last ``holdout_days`` out
        (the fresh holdout of the promotion gate)."""
        from mlops_contracts import TrainingReason, TrainingRequested

        self.model_names.add(model_name)

        values: dict[str, Any] = {
            "idempotency_key": f"k-{uuid.uuid4().hex[:12]}",
            "model_name": model_name,
            "reason": TrainingReason.MANUAL,
            "data_window_start": self.history.start,
            "data_window_end": self.history.end - timedelta(days=holdout_days),
            "requested_at": self.history.end,
        }
        return TrainingRequested(**(values | fields))


@pytest.fixture
async def model_plane(
    tmp_path: Path,
    churn_history: ChurnHistory,
    mlflow_tracking_uri: str,
    recording_publisher: RecordingPublisher,
) -> AsyncIterator[ModelPlaneParts]:
    """Real adapters for the model plane's component tests (see ModelPlaneParts)."""
    from registry.adapters import decision_ledger
    from trainer_gpu.adapters import request_ledger

    from churn_features import labels as label_log
    from churn_features.labels import SqlLabelLog
    from churn_features.store import CustomerFeatureStore
    from model_store import ModelStore
    from service_kit.database import create_engine
    from service_kit.outbox import Outbox
    from service_kit.schema import migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    parts = [label_log.MIGRATIONS, request_ledger.MIGRATIONS, decision_ledger.MIGRATIONS]
    await migrate(engine, parts)
    labels = SqlLabelLog(engine)
    await labels.admit(churn_history.labels)
    yield ModelPlaneParts(
        engine=engine,
        labels=labels,
        features=CustomerFeatureStore(churn_history.store_settings),
        models=ModelStore(mlflow_tracking_uri),
        history=churn_history,
        publisher=recording_publisher,
        outbox=Outbox(engine, recording_publisher),
    )
    await engine.dispose()


@pytest.fixture
async def migrated_database(database_url: str) -> AsyncIterator[Any]:
    """``await migrated_database(*parts)``: an engine on ``database_url`` (SQLite, then
    PostgreSQL) migrated to the kit's tables and those of ``parts``; disposed after."""
    from service_kit.database import create_engine
    from service_kit.schema import migrate

    engines = []

    async def migrated(*parts: Any) -> Any:
        engine = create_engine(database_url)
        engines.append(engine)
        await migrate(engine, parts)
        return engine

    yield migrated
    for engine in engines:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[str]:
    """Each adapter test twice: on a real SQLite file and on a real PostgreSQL database of
    its own, created for the test and dropped after it (PostgreSQL fails, not skips, under
    CI when unreachable)."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    import asyncpg
    from sqlalchemy.engine import make_url

    server: str = request.getfixturevalue("postgres_url")
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
