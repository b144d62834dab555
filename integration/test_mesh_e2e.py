"""The embedded mesh as a user runs it: real processes, real broker, real ports.

Boot, readiness of every service, topics as catalogued (seen by a plain Kafka client), the
first champion bootstrapped and a training requested by hand (MLflow run, registered
version, the gate's numbers), a second `up`, a crashed service restarted, a lost broker
recovered, and a clean `down` that leaves no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from mesh_under_test import ROOT, MeshUnderTest, booted_mesh

from mesh.control import process_alive as alive
from mesh.plan import SERVICES
from mesh.project_commands import applied_projects
from mlops_contracts import topics_to_create
from mlops_projects import read_project

EXPECTED_SERVICES = [
    *(spec.name for spec in SERVICES if not spec.replicated),
    "predictor-1",
    "predictor-2",
]

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshUnderTest]:
    with booted_mesh(tmp_path_factory.mktemp("mesh")) as under_test:
        yield under_test


def wait_until_all_ready(mesh: MeshUnderTest, within_s: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + within_s
    while True:
        urls = mesh.ready_urls()
        codes = {}
        for name, url in urls.items():
            try:
                codes[name] = httpx.get(url, timeout=2).status_code
            except httpx.HTTPError:
                codes[name] = 0
        if len(codes) == len(EXPECTED_SERVICES) and set(codes.values()) == {200}:
            return urls
        if time.monotonic() > deadline:
            raise AssertionError(f"not all ready: {codes}")
        time.sleep(0.5)


def test_every_service_is_ready(mesh: MeshUnderTest) -> None:
    urls = wait_until_all_ready(mesh)
    assert sorted(urls) == sorted(
        [
            "registry",
            "feature",
            "ingest",
            "trainer-gpu",
            "predictor-1",
            "predictor-2",
            "monitor",
            "retrain-trigger",
            "gateway",
        ]
    )
    body = httpx.get(urls["predictor-2"]).json()
    assert body["instance"] == "predictor-2"
    assert body["checks"]["kafka"]["ok"] is True
    metrics = httpx.get(urls["gateway"].replace("/ready", "/metrics"))
    assert metrics.status_code == 200


def test_topics_exist_as_catalogued_for_a_plain_kafka_client(mesh: MeshUnderTest) -> None:
    async def describe() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=mesh.bootstrap)
        await admin.start()
        try:
            names = [spec.name for spec in topics_to_create()]
            described = await admin.describe_topics(names)
            return {topic["topic"]: len(topic["partitions"]) for topic in described}
        finally:
            await admin.close()

    partitions = asyncio.run(describe())
    assert partitions == {spec.name: spec.partitions for spec in topics_to_create()}


def test_up_applied_the_churn_example_project(mesh: MeshUnderTest) -> None:
    assert "project churn created as version 1" in mesh.up_output
    applied = asyncio.run(applied_projects(mesh.bootstrap))
    assert applied["churn"].version == 1
    assert applied["churn"].project == read_project(ROOT / "examples" / "churn")


def test_a_users_table_is_applied_and_loaded_through_ingest(
    mesh: MeshUnderTest, tmp_path: Path
) -> None:
    table = tmp_path / "census.csv"
    prepare = [sys.executable, str(ROOT / "examples" / "income" / "prepare.py"), str(table)]
    subprocess.run([*prepare, "--rows", "2000"], check=True, capture_output=True)
    with table.open("a") as rows:
        rows.write(
            "P99999,forty,Private,Bachelors,13,Divorced,Sales,Unmarried,White,Male,0,0,40,>50K\n"
        )
    applied = mesh.run("project", "apply", "examples/income")
    assert applied.returncode == 0, applied.stderr
    assert "project income created as version 1" in applied.stdout
    loaded = mesh.run("load", "income", str(table))
    assert loaded.returncode == 2, loaded.stdout + loaded.stderr  # one row rejected
    assert (
        f"{table}: 2001 rows -> project income: 2000 records and 2000 labels sent, "
        "4000 accepted, 0 already loaded, 1 rows rejected"
    ) in loaded.stdout
    assert "line 2002: age: 'forty' is not an integer" in loaded.stderr
    again = mesh.run("load", "income", str(table))
    assert "0 accepted, 4000 already loaded" in again.stdout  # idempotent per file


def test_the_first_up_bootstrapped_a_champion(mesh: MeshUnderTest) -> None:
    output = mesh.up_output
    assert "No champion model yet: bootstrapping" in output
    assert "features materialized for" in output
    assert "promoted: version 1 is the champion (holdout roc_auc" in output
    champion = httpx.get(f"{mesh.url(4)}/v1/models/churn/champion", timeout=10).json()
    assert champion["version"] == 1
    assert champion["gate"] == "promoted"
    assert httpx.get(f"{mesh.url(20)}/health", timeout=10).status_code == 200  # MLflow


def test_a_training_requested_by_hand_ends_in_a_decision_with_numbers(
    mesh: MeshUnderTest,
) -> None:
    from mlflow import MlflowClient

    result = mesh.run("train", "--days", "20", "--holdout-days", "4")
    print(result.stdout, result.stderr)
    assert result.returncode in (0, 3), result.stdout + result.stderr  # promoted / rejected
    assert "trained: churn version 2" in result.stdout
    decided = "promoted: version 2" if result.returncode == 0 else "rejected: version 2"
    assert decided in result.stdout
    lineage = httpx.get(f"{mesh.url(4)}/v1/models/churn/versions/2", timeout=30).json()
    assert lineage["version"]["gate"] in ("promoted", "rejected")
    assert lineage["version"]["tags"]["gate_holdout_rows"] != "0"
    assert lineage["dataset_snapshot"]["row_count"] > 1000
    history = MlflowClient(mesh.url(20)).get_metric_history(
        lineage["version"]["run_id"], "val_roc_auc"
    )
    assert len(history) >= 2  # one point per epoch


def test_second_up_says_it_is_running(mesh: MeshUnderTest) -> None:
    result = mesh.run("up")
    assert result.returncode == 0
    assert "already running" in result.stdout


def test_crashed_service_is_restarted(mesh: MeshUnderTest) -> None:
    before = int(mesh.status()["ingest"][2])
    os.kill(before, signal.SIGKILL)
    wait_until_all_ready(mesh)
    after = int(mesh.status()["ingest"][2])
    assert after != before


def test_lost_broker_restarts_the_whole_mesh(mesh: MeshUnderTest) -> None:
    old = mesh.status()
    os.kill(int(old["broker"][2]), signal.SIGKILL)
    time.sleep(2)
    # Every service restarts in its tier, importing Feast, MLflow and torch on two shared
    # cores: 125 to 139 s from the kill on this project's 2-core machine on 2026-12-07
    # (145 to 151 s before the service kit started consumers together and kept MLflow up).
    wait_until_all_ready(mesh, within_s=240)
    new = mesh.status()
    assert new["broker"][2] != old["broker"][2]
    assert new["gateway"][2] != old["gateway"][2]  # services restarted with the broker
    test_topics_exist_as_catalogued_for_a_plain_kafka_client(mesh)


def test_down_leaves_no_process(mesh: MeshUnderTest) -> None:
    pids = [int(fields[2]) for fields in mesh.status().values()]
    pids.append(int((mesh.home / "run" / "supervisord.pid").read_text()))
    guard = subprocess.run(
        ["pgrep", "-f", "mesh.broker_guard"], capture_output=True, text=True
    ).stdout.split()
    pids += [
        int(pid) for pid in guard if _environ_of(int(pid)).get("MLOPS_MESH_HOME") == str(mesh.home)
    ]
    result = mesh.run("down", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no process left" in result.stdout
    left = [pid for pid in pids if alive(pid)]
    assert left == [], f"processes left behind: {left}"
    assert "not running" in mesh.run("status").stdout


def _environ_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode(errors="replace") for key, value in pairs}
