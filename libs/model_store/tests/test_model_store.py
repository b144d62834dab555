"""The MLflow adapter against real MLflow tracking servers (SQLite and PostgreSQL backends)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import torch

from churn_model import (
    ArtifactRefused,
    ChurnNet,
    ModelSpec,
    Standardisation,
    save_model,
    spec_sha256,
)
from mesh.mlflow_server import running_mlflow
from model_store import CHALLENGER, CHAMPION, ModelStore, ModelStoreError

pytestmark = pytest.mark.connected

SPEC = ModelSpec(
    model_name="m",
    numeric_features=("a",),
    categorical_features={"plan": ("basic", "premium")},
    standardisation={"a": Standardisation(mean=0.0, std=1.0)},
    hidden_sizes=(4,),
)
ROWS = [{"a": 0.5, "plan": "basic"}, {"a": -2.0, "plan": "premium"}]


def register_trained(store: ModelStore, name: str, folder: Path, seed: int = 0) -> tuple[int, str]:
    torch.manual_seed(seed)
    network = ChurnNet(SPEC.model_copy(update={"model_name": name}))
    sha256 = save_model(folder, SPEC.model_copy(update={"model_name": name}), network)
    run_id = store.start_run(name, "test", {"purpose": "test"})
    store.log_metrics(run_id, {"val_roc_auc": 0.7}, step=1)
    store.log_metrics(run_id, {"val_roc_auc": 0.8}, step=2)
    store.log_json(run_id, {"rows": 3}, "dataset_snapshot.json")
    source = store.log_model(run_id, folder)
    store.end_run(run_id)
    version = store.register(
        name,
        run_id=run_id,
        source=source,
        sha256=sha256,
        spec_sha256=spec_sha256(folder),
        tags={"k": "v"},
    )
    return version.version, sha256


def test_versions_aliases_lineage_and_verified_loading(
    mlflow_tracking_uri: str, tmp_path: Path
) -> None:
    store = ModelStore(mlflow_tracking_uri)
    store.ping()
    name = f"churn-{uuid.uuid4().hex[:8]}"
    assert store.by_alias(name, CHAMPION) is None  # no such model yet
    assert store.versions(name) == []

    first, sha_first = register_trained(store, name, tmp_path / "one", seed=1)
    second, _ = register_trained(store, name, tmp_path / "two", seed=2)
    store.set_alias(name, CHALLENGER, second)
    store.set_alias(name, CHAMPION, first)
    store.tag_version(name, first, {"gate": "promoted"})

    champion = store.by_alias(name, CHAMPION)
    assert champion is not None
    assert (champion.version, champion.sha256) == (first, sha_first)
    assert champion.tags["gate"] == "promoted"
    assert champion.tags["k"] == "v"
    listed = store.versions(name)
    assert [v.version for v in listed] == [1, 2]
    assert CHALLENGER in listed[1].aliases

    loaded = store.load(champion)
    assert loaded.sha256 == sha_first
    assert len(loaded.scores(ROWS)) == 2
    assert champion.run_id is not None
    run = store.run(champion.run_id)
    assert run.status == "FINISHED"
    assert run.metrics["val_roc_auc"] == pytest.approx(0.8)  # the latest epoch's value
    assert store.read_json(champion.run_id, "dataset_snapshot.json") == {"rows": 3}
    assert store.read_json(champion.run_id, "nothing.json") is None

    store.delete_version(name, second)
    assert [v.version for v in store.versions(name)] == [1]


def test_an_artifact_that_does_not_match_the_registered_digest_is_refused(
    mlflow_tracking_uri: str, tmp_path: Path
) -> None:
    store = ModelStore(mlflow_tracking_uri)
    name = f"tampered-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "model"
    version, sha256 = register_trained(store, name, folder)
    info = store.version(name, version)
    # The registry's digest is the truth: a version claiming another digest is refused.
    spec_digest = info.tags["spec_sha256"]
    forged = store.register(
        name,
        run_id=info.run_id or "",
        source=info.source,
        sha256="0" * 64,
        spec_sha256=spec_digest,
        tags={},
    )
    with pytest.raises(ArtifactRefused, match="sha256 mismatch"):
        store.load(forged)
    # Weights replaced after registration (same name, new content): refused as well.
    torch.manual_seed(99)
    evil = folder.parent / "evil"
    save_model(evil, SPEC.model_copy(update={"model_name": name}), ChurnNet(SPEC))
    run_id = store.start_run(name, "evil", {})
    swapped = store.register(
        name,
        run_id=run_id,
        source=store.log_model(run_id, evil),
        sha256=sha256,
        spec_sha256=spec_digest,
        tags={},
    )
    with pytest.raises(ArtifactRefused, match="sha256 mismatch"):
        store.load(swapped)
    # A version that records no spec digest, or whose files are gone, is refused too.
    bare = store.register(
        name, run_id=info.run_id or "", source=info.source, sha256=sha256, tags={}
    )
    with pytest.raises(ArtifactRefused, match="records no spec_sha256"):
        store.load(bare)
    empty_run = store.start_run(name, "empty", {})
    gone = store.register(
        name,
        run_id=empty_run,
        source=f"{store.run(empty_run).artifact_uri}/model",
        sha256=sha256,
        spec_sha256=spec_digest,
        tags={},
    )
    with pytest.raises(ArtifactRefused, match="no artifact files"):
        store.load(gone)


def test_an_unreachable_server_is_reported_in_seconds() -> None:
    store = ModelStore("http://127.0.0.1:1")
    started = time.monotonic()
    with pytest.raises(ModelStoreError, match="reach the MLflow tracking server"):
        store.ping()
    assert time.monotonic() - started < 20


@pytest.fixture
def postgres_mlflow(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """An MLflow server whose backend is a fresh PostgreSQL database (the production
    profile's backend), dropped afterwards."""
    database = f"mlflow_{uuid.uuid4().hex[:10]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{database}"'))
    backend = postgres_url.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
    try:
        with running_mlflow(f"{backend}/{database}", tmp_path, timeout_s=120) as url:
            yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def test_the_registry_works_on_a_postgresql_backend(postgres_mlflow: str, tmp_path: Path) -> None:
    store = ModelStore(postgres_mlflow)
    version, sha256 = register_trained(store, "churn", tmp_path / "m")
    store.set_alias("churn", CHAMPION, version)
    champion = store.by_alias("churn", CHAMPION)
    assert champion is not None
    assert store.load(champion).sha256 == sha256
