"""Component test of every service: create_app does no I/O; on the in-memory Kafka its
lifespan starts, and /health, /ready and /metrics answer."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from mesh.plan import SERVICES as MESH_SERVICES
from service_kit.in_memory import InMemoryKafka

SERVICES = {spec.package: spec.settings_class for spec in MESH_SERVICES}


def build(
    package: str, tmp_path: Path, kafka: InMemoryKafka | None = None, **fields: Any
) -> tuple[Any, Any]:
    settings_class = getattr(importlib.import_module(f"{package}.settings"), SERVICES[package])
    settings = settings_class(
        data_dir=tmp_path / "data",
        instance_id="test-1",
        kafka_bootstrap_servers="127.0.0.1:1",
        **fields,
    )
    create_app = importlib.import_module(f"{package}.main").create_app
    return settings, create_app(settings, kafka)


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_create_app_does_no_io(package: str, tmp_path: Path) -> None:
    build(package, tmp_path)
    assert not (tmp_path / "data").exists(), "create_app must not touch the disk"


@pytest.mark.parametrize("package", sorted(SERVICES))
async def test_service_boots_and_reports_health(
    package: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings_class = getattr(importlib.import_module(f"{package}.settings"), SERVICES[package])
    fields = {}
    if "mlflow_tracking_uri" in settings_class.model_fields:  # its readiness asks MLflow
        fields["mlflow_tracking_uri"] = request.getfixturevalue("mlflow_tracking_uri")
    if "feature_store_dir" in settings_class.model_fields and package != "feature":
        # A reader of the features: the feature service would have applied the store.
        from churn_features import FeatureStoreSettings, open_feature_store

        store_dir = tmp_path / "feature_store"
        open_feature_store(FeatureStoreSettings(data_dir=store_dir)).apply()
        fields["feature_store_dir"] = store_dir
    settings, app = build(package, tmp_path, InMemoryKafka(), **fields)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            health = await client.get("/health")
            ready = await client.get("/ready")
            metrics = await client.get("/metrics")
    assert health.status_code == 200
    assert health.json()["service"] == settings.service_name
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["ok"] is True
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")


async def test_ready_says_which_dependency_is_down(tmp_path: Path) -> None:
    _, app = build("ingest", tmp_path, InMemoryKafka())
    runtime = app.state.runtime

    async def broker_down() -> None:
        raise ConnectionError("Kafka at 127.0.0.1:1 did not answer in 2 s")

    runtime.readiness["kafka"] = broker_down
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            ready = await client.get("/ready")
    assert ready.status_code == 503
    body = ready.json()
    assert body["checks"]["kafka"] == {
        "ok": False,
        "error": "Kafka at 127.0.0.1:1 did not answer in 2 s",
    }
    assert body["checks"]["database"]["ok"] is True
