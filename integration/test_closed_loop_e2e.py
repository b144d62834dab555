"""The closed loop on the real mesh, with no human step: drift injected into the simulated
business -> the monitor's windows -> one TrainingRequested from the retrain trigger ->
ModelTrained -> ModelPromoted -> every predictor replica rolls -> answers carry the new
version, while every prediction request sent during the run gets exactly one answer.

The mesh is the demo mesh's business (`mesh.demo.DEMO_MESH`: a business day of 3 s, 120 days
of history) on ports of its own. Stage timings are printed (`-s`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from mesh_under_test import MeshUnderTest, booted_mesh

from mesh.control import Mesh
from mesh.demo import DEMO_MESH, DemoPlan, DemoRun, Scenario, run_demo
from mesh.model_loop import bootstrap_history_end
from mesh.settings import MeshSettings
from mlops_contracts import (
    DriftDetected,
    ModelPromoted,
    ModelTrained,
    TrainingReason,
    TrainingRequested,
)

# `make test-loop`, not `make test`: its timing depends on the machine being otherwise idle
# (see the README's Tests section).
pytestmark = [pytest.mark.e2e, pytest.mark.loop, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshUnderTest]:
    # The demo mesh's business (compressed days, a long history), on ports of its own.
    business = {k: v for k, v in DEMO_MESH.items() if k not in ("home", "base_port", "broker_port")}
    with booted_mesh(tmp_path_factory.mktemp("loop"), **business) as under_test:
        yield under_test


def run_scenario(
    mesh: MeshUnderTest, monkeypatch: pytest.MonkeyPatch, scenario: Scenario
) -> DemoRun:
    for name, value in mesh.env.items():
        if name.startswith("MLOPS_MESH_"):
            monkeypatch.setenv(name, value)
    launcher = Mesh(MeshSettings())
    plan = DemoPlan(
        scenario=scenario,
        customers=launcher.settings.bootstrap_customers,
        replicas=launcher.settings.predictor_replicas,
        day_seconds=launcher.settings.day_seconds,
        history_end=bootstrap_history_end(launcher.settings.bootstrap_state_path),
        history_days=launcher.settings.bootstrap_history_days,
        state=launcher.settings.demo_state_path,
        warmup_s=15.0,
        timeout_s=240.0,
    )
    return asyncio.run(run_demo(launcher.loop_endpoints(), plan, print))


def assert_the_loop_closed_once(run: DemoRun, reason: TrainingReason) -> None:
    [requested] = run.of(TrainingRequested)  # exactly one training for the episode
    assert isinstance(requested, TrainingRequested)
    assert requested.reason is reason
    assert run.drift_started is not None
    assert run.first(TrainingRequested) > run.drift_started, "trained before any drift"
    assert requested.triggering_event_ids, "a triggered training names what triggered it"
    [trained] = run.of(ModelTrained)
    assert isinstance(trained, ModelTrained)
    assert trained.idempotency_key == requested.idempotency_key
    promoted = run.of(ModelPromoted)
    assert [p.model_version for p in promoted if isinstance(p, ModelPromoted)] == [
        trained.model_version
    ]
    assert run.champion_before is not None
    assert trained.model_version > run.champion_before
    assert len(run.rolled) == 2, f"replicas rolled: {sorted(run.rolled)}"
    assert trained.model_version in run.versions_answering
    unanswered = [request for request in run.sent if run.answers[request] == 0]
    doubled = [request for request, count in run.answers.items() if count > 1]
    assert not unanswered, f"{len(unanswered)} of {len(run.sent)} requests got no answer"
    assert not doubled, f"{len(doubled)} requests were answered twice"
    assert sum(run.errors.values()) == 0, f"error answers: {dict(run.errors)}"


def print_stages(title: str, run: DemoRun) -> None:
    print(f"\n{title}: seconds from the drift's start")
    for label, seconds in run.stages():
        print(f"  {label:<32} {seconds:7.1f}")


def test_data_drift_retrains_promotes_and_rolls_every_replica(
    mesh: MeshUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_scenario(mesh, monkeypatch, "covariate")
    print_stages("data drift", run)
    drifted: list[Any] = [e for e in run.of(DriftDetected) if getattr(e, "dataset_drift", False)]
    assert drifted, "the monitor judged no window drifted"
    assert run.drift_started is not None
    early = [e.window_id for e in drifted if e.window_end <= run.drift_started]
    assert not early, f"windows judged drifted before the drift started: {early}"
    assert drifted[0].report_uri, "each drift check links its Evidently report"
    assert_the_loop_closed_once(run, TrainingReason.DRIFT)
