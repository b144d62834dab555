"""The projects a service knows: read whole at start, followed while it runs, newest
version kept; on the in-memory Kafka and on the real broker."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from mlops_contracts import ProjectApplied, WireRecord, topic_for
from service_kit import (
    ProjectCatalog,
    ServiceRuntime,
    ServiceSettings,
    UnknownModelError,
    ensure_topics,
)
from service_kit.in_memory import InMemoryKafka
from service_kit.testing import applied as applied_as
from service_kit.testing import eventually, project_applied

MODES = ["memory", pytest.param("real", marks=pytest.mark.connected)]
MEMORY = "127.0.0.1:1"


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_TEST_", extra="forbid", frozen=True)
    service_name: str = "catalog-test"


def runtime_for(tmp_path: Path, bootstrap: str) -> ServiceRuntime:
    settings = CatalogSettings(
        kafka_bootstrap_servers=bootstrap,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        instance_id=uuid.uuid4().hex[:8],
    )
    return ServiceRuntime(settings, InMemoryKafka() if bootstrap == MEMORY else None)


@pytest.fixture(params=MODES)
def bootstrap(request: pytest.FixtureRequest) -> str:
    if request.param == "real":
        return str(request.getfixturevalue("kafka_bootstrap"))
    return MEMORY


def applied(name: str, version: int, *, margin: float = 0.0) -> ProjectApplied:
    project = project_applied(name).project
    gate = project.gate.model_copy(update={"min_margin": margin})
    return applied_as(project.model_copy(update={"gate": gate}), version=version)


async def test_a_service_starts_knowing_every_project_and_follows_new_ones(
    bootstrap: str, tmp_path: Path
) -> None:
    first, second = f"p-{uuid.uuid4().hex[:8]}", f"q-{uuid.uuid4().hex[:8]}"
    runtime = runtime_for(tmp_path, bootstrap)
    topic = topic_for(ProjectApplied)
    if bootstrap != MEMORY:
        await ensure_topics(bootstrap, [topic])
    await runtime.connect()
    try:
        await runtime.publisher.publish(applied(first, 1))
        await runtime.publisher.publish(applied(first, 2, margin=0.01))
        await runtime.publisher.publish(applied(first, 1))  # a stale version, replayed
        await runtime.kafka.send([WireRecord(topic.name, b"junk", b"{not json", ())])
        catalog = await runtime.projects()
        assert catalog.applied(first).version == 2  # the newest, whatever the order
        assert catalog.project(first).gate.min_margin == 0.01
        assert second not in catalog
        await runtime.start_consuming()
        await runtime.publisher.publish(applied(second, 1))
        await eventually(lambda: second in catalog)
        assert catalog.applied(first).version == 2
        assert await runtime.projects() is catalog  # one catalogue, one subscription
    finally:
        await runtime.stop_consuming()
        await runtime.close()


def test_an_unknown_model_says_which_models_exist() -> None:
    catalog = ProjectCatalog([applied("credit", 1), applied("churn", 3)])
    assert catalog.names == ("churn", "credit")
    with pytest.raises(UnknownModelError) as caught:
        catalog.project("9KKGy")
    assert str(caught.value) == (
        "no model project named '9KKGy' (applied: churn, credit); "
        "apply one with `mlops project apply`"
    )
    assert "applied: none yet" in str(UnknownModelError("x", ()))


def test_an_older_version_never_replaces_a_newer_one() -> None:
    catalog = ProjectCatalog()
    assert catalog.learn(applied("credit", 2))
    assert not catalog.learn(applied("credit", 1))
    assert not catalog.learn(applied("credit", 2))  # the same declaration again
    assert catalog.learn(applied("credit", 2, margin=0.05))  # two applies raced: the later
    assert catalog.project("credit").gate.min_margin == 0.05  # wins, as compaction keeps it
    assert catalog.applied("credit").version == 2
