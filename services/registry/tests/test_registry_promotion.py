"""The promotion gate with real adapters: models trained by the real trainer into a real
MLflow server, the holdout joined from the simulated history's feature store."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from mlflow import MlflowClient
from registry.adapters.decision_ledger import SqlDecisionLedger
from registry.domain.gate import GatePolicy
from registry.main import create_app
from registry.service import PromotionGate
from registry.settings import RegistrySettings
from safetensors.torch import save_file

from mlops_contracts import ModelPromoted, ModelRejected, ModelTrained, RejectionReason
from model_store import CHAMPION

pytestmark = pytest.mark.connected

POLICY = {"metric": "roc_auc", "min_margin": 0.0, "min_metric": 0.6, "min_holdout_rows": 100}


async def gate_for(parts: Any, **policy: Any) -> PromotionGate:
    return PromotionGate(
        models=parts.models,
        labels=parts.labels,
        features=parts.features,
        decisions=SqlDecisionLedger(parts.engine, parts.outbox),
        outbox=parts.outbox,
        policy=GatePolicy(**(POLICY | policy)),
        holdout_max_rows=5000,
        clock=lambda: parts.history.end + timedelta(days=1),
    )


async def train(parts: Any, model: str, **config: Any) -> ModelTrained:
    trainer = parts.trainer(**{"max_epochs": 4, **config})
    await trainer.accept(parts.request(model), event_id=str(uuid.uuid4()), correlation_id=None)
    await trainer.run_pending()
    outcome: ModelTrained = parts.publisher.events(ModelTrained)[-1]
    return outcome


def weak() -> dict[str, Any]:
    """A barely trained model: one epoch at a tiny learning rate."""
    return {"max_epochs": 1, "learning_rate": 1e-6}


async def test_first_champion_then_a_better_challenger_then_a_rejected_one(
    model_plane: Any,
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    publisher = model_plane.publisher

    first = await train(model_plane, model, **weak())
    promoted = await (await gate_for(model_plane, min_metric=0.0)).on_trained(
        first, correlation_id="c1"
    )
    assert isinstance(promoted, ModelPromoted)
    assert promoted.previous_version is None
    assert promoted.champion_metric is None
    assert promoted.holdout_rows >= 100
    assert publisher.ids(ModelPromoted) == [f"registry:{model}:1:decision"]
    assert model_plane.models.by_alias(model, CHAMPION).version == 1

    better = await train(model_plane, model)
    second = await (await gate_for(model_plane)).on_trained(better, correlation_id="c2")
    assert isinstance(second, ModelPromoted)
    assert second.previous_version == 1
    assert second.champion_metric is not None
    assert second.challenger_metric > second.champion_metric  # the numbers, both models
    assert second.holdout_rows == promoted.holdout_rows  # the same holdout
    assert model_plane.models.by_alias(model, CHAMPION).version == 2
    previous = model_plane.models.version(model, 1)
    assert previous.tags["previous_champion"] == "true"
    assert previous.tags["replaced_by"] == "2"

    again = await train(model_plane, model)
    rejected = await (await gate_for(model_plane, min_margin=0.5)).on_trained(
        again, correlation_id="c3"
    )
    assert isinstance(rejected, ModelRejected)
    assert rejected.reason is RejectionReason.NOT_BETTER_THAN_CHAMPION
    assert rejected.champion_version == 2
    assert rejected.champion_metric == pytest.approx(second.challenger_metric)
    assert "margin 0.5000" in rejected.detail
    assert model_plane.models.by_alias(model, CHAMPION).version == 2  # unchanged
    assert model_plane.models.version(model, 3).tags["gate"] == "rejected"


async def test_a_tampered_artifact_is_refused_and_the_champion_stays(
    model_plane: Any, tmp_path: Path
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    gate = await gate_for(model_plane)
    await gate.on_trained(await train(model_plane, model), correlation_id=None)
    challenger = await train(model_plane, model)
    # Someone replaces the weights in the artifact store after registration.
    forged = tmp_path / "weights.safetensors"
    save_file({"layers.0.weight": torch.zeros(2, 2)}, str(forged))
    MlflowClient(model_plane.models.tracking_uri).log_artifact(
        challenger.run_id, str(forged), "model"
    )

    decision = await gate.on_trained(challenger, correlation_id=None)
    assert isinstance(decision, ModelRejected)
    assert decision.reason is RejectionReason.ARTIFACT_INVALID
    assert "sha256 mismatch" in decision.detail
    assert model_plane.models.by_alias(model, CHAMPION).version == 1


async def test_an_event_whose_digest_differs_from_the_registry_is_refused(
    model_plane: Any,
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    trained = await train(model_plane, model)
    lying = trained.model_copy(update={"sha256": "f" * 64})
    decision = await (await gate_for(model_plane)).on_trained(lying, correlation_id=None)
    assert isinstance(decision, ModelRejected)
    assert decision.reason is RejectionReason.ARTIFACT_INVALID
    assert model_plane.models.by_alias(model, CHAMPION) is None


async def test_no_fresh_labels_means_no_decision_on_the_numbers(model_plane: Any) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    trained = await train(model_plane, model)
    gate = await gate_for(model_plane)
    gate.clock = lambda: trained.dataset.window_end  # nothing observed after the window
    decision = await gate.on_trained(trained, correlation_id=None)
    assert isinstance(decision, ModelRejected)
    assert decision.reason is RejectionReason.INSUFFICIENT_HOLDOUT
    assert decision.holdout_rows == 0


async def test_a_replayed_trained_event_finishes_without_judging_or_publishing_again(
    model_plane: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    gate = await gate_for(model_plane)
    trained = await train(model_plane, model)
    first = await gate.on_trained(trained, correlation_id=None)

    def must_not_load(*_args: object) -> None:
        raise AssertionError("a replay must not judge again")

    monkeypatch.setattr(model_plane.models, "load", must_not_load)
    replay = await gate.on_trained(trained, correlation_id=None)
    assert replay == first
    # Published once, from the outbox (a relay after a crash would use the same id).
    assert model_plane.publisher.ids(ModelPromoted) == [f"registry:{model}:1:decision"]


async def test_a_decision_recorded_before_a_crash_is_applied_on_redelivery(
    model_plane: Any,
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    gate = await gate_for(model_plane)
    trained = await train(model_plane, model)
    decision = await gate._decide(trained)  # decided and stored, then the process died
    await gate.decisions.record(decision)
    assert model_plane.models.by_alias(model, CHAMPION) is None

    await gate.on_trained(trained, correlation_id=None)
    assert model_plane.models.by_alias(model, CHAMPION).version == 1
    stored = await gate.decisions.get(model, 1)
    assert stored is not None
    assert stored.applied
    assert await gate.outbox.published([f"registry:{model}:1:decision"])


async def test_the_read_api_shows_champion_history_and_lineage(
    model_plane: Any, tmp_path: Path
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    gate = await gate_for(model_plane)
    trained = await train(model_plane, model)
    await gate.on_trained(trained, correlation_id=None)

    app = create_app(RegistrySettings(data_dir=tmp_path, instance_id="t"))
    app.state.components = gate  # the running service's components, without its lifespan
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        champion = await client.get(f"/v1/models/{model}/champion")
        history = await client.get(f"/v1/models/{model}/versions")
        lineage = await client.get(f"/v1/models/{model}/versions/1")
        missing = await client.get("/v1/models/nobody/champion")
        no_version = await client.get(f"/v1/models/{model}/versions/9")
        bad_name = await client.get("/v1/models/%20bad/champion")

    assert champion.status_code == 200
    assert champion.json()["version"] == 1
    assert champion.json()["sha256"] == trained.sha256
    assert champion.json()["gate"] == "promoted"
    assert history.json()["champion"] == 1
    assert [v["version"] for v in history.json()["versions"]] == [1]
    body = lineage.json()
    assert body["version"]["run_id"] == trained.run_id
    assert body["dataset_snapshot"]["content_sha256"] == trained.dataset.content_sha256
    assert body["params"]["window_end"] == trained.dataset.window_end.isoformat()
    assert "val_roc_auc" in body["metrics"]
    assert missing.status_code == 404
    assert "has no champion yet" in missing.json()["detail"]
    assert no_version.status_code == 404
    assert bad_name.status_code == 422


async def test_a_trained_event_for_a_version_the_registry_lacks_is_rejected_not_retried(
    model_plane: Any,
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    trained = await train(model_plane, model)
    ghost = trained.model_copy(update={"model_version": 99})
    decision = await (await gate_for(model_plane)).on_trained(ghost, correlation_id=None)
    assert isinstance(decision, ModelRejected)
    assert decision.reason is RejectionReason.ARTIFACT_INVALID
    assert "has no version 99" in decision.detail


async def test_a_champion_that_can_no_longer_be_loaded_does_not_block_its_replacement(
    model_plane: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    gate = await gate_for(model_plane)
    await gate.on_trained(await train(model_plane, model), correlation_id=None)
    # The champion's spec digest no longer matches (its artifact was altered).
    models = model_plane.models
    models.tag_version(model, 1, {"spec_sha256": "0" * 64})
    decision = await gate.on_trained(await train(model_plane, model), correlation_id=None)
    assert isinstance(decision, ModelPromoted)
    assert decision.champion_metric is None  # judged alone, against the floor
    assert decision.previous_version == 1
    assert models.by_alias(model, CHAMPION).version == 2


async def test_the_holdout_starts_after_the_later_of_both_training_windows(
    model_plane: Any,
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    gate = await gate_for(model_plane)
    # The champion trained until 2 days before the end; the challenger until 6 days before.
    trainer = model_plane.trainer(max_epochs=2)
    for holdout_days in (2, 6):
        request = model_plane.request(model, holdout_days=holdout_days)
        await trainer.accept(request, event_id=str(uuid.uuid4()), correlation_id=None)
        await trainer.run_pending()
        trained = model_plane.publisher.events(ModelTrained)[-1]
        decision = await gate.on_trained(trained, correlation_id=None)
    # Judged only on labels after the champion's window: the last 2 days (+1 of clock).
    recent = await model_plane.labels.count_between(
        model_plane.history.end - timedelta(days=2), model_plane.history.end + timedelta(days=1)
    )
    assert 0 < decision.holdout_rows <= recent
    assert decision.champion_metric is not None
