"""The closed loop on the real mesh, with no human step: a drift injected into the simulated
business -> the monitor's windows -> a TrainingRequested from the retrain trigger ->
ModelTrained -> ModelPromoted -> every predictor replica rolls -> answers carry the new
version, while every prediction request sent during the run gets exactly one answer.

Two scenarios, each on a mesh of its own (the demo mesh's business: a business day of 3 s,
120 days of history, on ports of its own):

- data drift (the customers change): seen in the features, exactly one training;
- concept drift (only what the features mean for churn changes): seen first through the
  delayed labels (live AUC). A model retrained too soon after it, on mostly old labels, may
  lose the gate: the trigger then retries once the cooldown has passed (by then the
  changed churners' newcomers also show in the windowed features, so the retry may be
  asked for by either signal).

Stage timings are printed (`-s`).
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
    ModelRejected,
    ModelTrained,
    PerformanceDegraded,
    TrainingReason,
    TrainingRequested,
)

# `make test-loop`, not `make test`: its timing depends on the machine being otherwise idle
# (see the README's Tests section).
pytestmark = [pytest.mark.e2e, pytest.mark.loop, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
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


def assert_the_loop_closed(run: DemoRun, reason: TrainingReason, *, attempts: int) -> None:
    """The drift was noticed for ``reason`` and led to at most ``attempts`` trainings, each
    after the gate rejected the previous one; the last was promoted and rolled out; every
    request was answered exactly once, without error."""
    requested = [e for e in run.of(TrainingRequested) if isinstance(e, TrainingRequested)]
    keys = [r.idempotency_key for r in requested]
    assert 1 <= len(requested) <= attempts, f"trainings requested: {keys}"
    assert requested[0].reason is reason, f"first training for {requested[0].reason}: {keys}"
    assert run.drift_started is not None
    assert run.first(TrainingRequested) > run.drift_started, "trained before any drift"
    assert all(r.triggering_event_ids for r in requested), "a training names its triggers"
    # The first episode began with the drift, not with a run of noisy windows before it.
    # Its first window's id is in the key. A drift window judges the predictions' features:
    # it must have closed after the drift began. A performance window is judged once the
    # labels arrive: its predictions may predate the drift, the outcomes judging them not.
    kind = DriftDetected if reason is TrainingReason.DRIFT else PerformanceDegraded
    first = [
        (at, event)
        for at, event in run.events
        if isinstance(event, kind) and f"-{event.window_id}-a" in keys[0]
    ]
    assert first, f"the episode's first window was not seen: {keys}"
    at, window = first[0]
    if reason is TrainingReason.DRIFT:
        assert window.window_end > run.drift_started, f"episode began before the drift: {keys}"
    else:
        assert at > run.drift_started, f"judged degraded before the drift: {keys}"
    trained = [e for e in run.of(ModelTrained) if isinstance(e, ModelTrained)]
    assert [t.idempotency_key for t in trained] == keys
    rejected = [e.model_version for e in run.of(ModelRejected) if isinstance(e, ModelRejected)]
    assert rejected == [t.model_version for t in trained[:-1]], "a retry follows a rejection"
    promoted = [e.model_version for e in run.of(ModelPromoted) if isinstance(e, ModelPromoted)]
    assert promoted == [trained[-1].model_version]
    assert run.champion_before is not None
    assert trained[-1].model_version > run.champion_before
    assert len(run.rolled) == 2, f"replicas rolled: {sorted(run.rolled)}"
    assert trained[-1].model_version in run.versions_answering
    unanswered = run.unanswered()
    doubled = [request for request, count in run.answers.items() if count > 1]
    assert not unanswered, (
        f"{len(unanswered)} of {len(run.sent)} requests got no answer; seen: {run.traces}"
    )
    assert not run.unreadable, f"reply-topic records that are not answers: {run.unreadable}"
    assert not doubled, f"{len(doubled)} requests were answered twice"
    assert sum(run.errors.values()) == 0, f"error answers: {dict(run.errors)}: {run.error_examples}"


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
    assert drifted[0].report_uri, "each drift check links its Evidently report"
    # The trigger fires some 20 s after the drift began, when the delayed labels cover
    # only a few seconds of the drifted business: the first challenger may lose at the
    # gate, and the retry after the cooldown is part of the loop (as for concept drift).
    assert_the_loop_closed(run, TrainingReason.DRIFT, attempts=2)


def test_concept_drift_is_seen_through_delayed_labels_and_retrained_away(
    mesh: MeshUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_scenario(mesh, monkeypatch, "concept")
    print_stages("concept drift", run)
    assert run.drift_started is not None
    degraded: list[Any] = [e for e in run.of(PerformanceDegraded) if getattr(e, "degraded", 0)]
    assert any(e.window_end > run.drift_started for e in degraded), "no window judged degraded"
    judged: list[Any] = run.of(PerformanceDegraded)
    assert all(e.labelled_count >= 50 for e in judged), "judged on too few labels"
    assert_the_loop_closed(run, TrainingReason.PERFORMANCE, attempts=3)
