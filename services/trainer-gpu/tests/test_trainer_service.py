"""The trainer's use case with real adapters: SQLite state, the Feast store of a simulated
history, a real MLflow server. Only the Kafka publisher is a recorder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlflow import MlflowClient
from trainer_gpu.service import IDEMPOTENCY_TAG

from churn_features.snapshot import training_frame_sha256
from churn_features.training_set import labelled_set
from mlops_contracts import ModelTrained, TrainingFailed, TrainingProgress
from model_store import CHALLENGER, ModelStoreError

pytestmark = pytest.mark.connected


def name() -> str:
    return f"churn-{uuid.uuid4().hex[:8]}"


async def test_a_request_trains_logs_every_epoch_registers_a_challenger_and_announces_it(
    model_plane: Any,
) -> None:
    model = name()
    trainer = model_plane.trainer(max_epochs=5, patience=5)
    request = model_plane.request(model)
    assert await trainer.accept(request, event_id="e-1", correlation_id="corr-1")
    assert await trainer.run_pending() == 1

    publisher = model_plane.publisher
    [trained] = publisher.events(ModelTrained)
    progress = publisher.events(TrainingProgress)
    assert [p.epoch for p in progress] == [1, 2, 3, 4, 5]
    assert {p.run_id for p in progress} == {trained.run_id}
    assert progress[-1].eta_seconds == 0.0
    assert all(p.device == "cpu" and p.validation_metric == "roc_auc" for p in progress)
    assert publisher.ids(ModelTrained) == [f"trainer-gpu:{request.idempotency_key}:outcome"]
    assert {corr for _, _, corr in publisher.published} == {"corr-1"}

    assert trained.model_version == 1
    assert trained.metrics["roc_auc"] > 0.7
    assert trained.device == "cpu"
    # Lineage: the snapshot hashes exactly the labelled set of the window.
    window = await model_plane.labels.observed_between(
        request.data_window_start, request.data_window_end
    )
    rebuilt = labelled_set(model_plane.features, window)
    assert trained.dataset.row_count == len(rebuilt.frame) > 2000
    assert trained.dataset.content_sha256 == training_frame_sha256(rebuilt.frame)
    assert trained.dataset.uri is not None
    assert trained.dataset.uri.endswith("dataset_snapshot.json")

    client = MlflowClient(model_plane.models.tracking_uri)
    history = client.get_metric_history(trained.run_id, "val_roc_auc")
    assert [m.step for m in history] == [1, 2, 3, 4, 5]
    run = client.get_run(trained.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["dataset_sha256"] == trained.dataset.content_sha256
    assert run.data.params["device"] == "cpu"

    challenger = model_plane.models.by_alias(model, CHALLENGER)
    assert challenger is not None
    assert challenger.version == trained.model_version
    assert challenger.sha256 == trained.sha256
    assert challenger.tags[IDEMPOTENCY_TAG] == request.idempotency_key
    loaded = model_plane.models.load(challenger)  # the artifact verifies
    assert len(loaded.scores(rebuilt.feature_rows()[:10])) == 10

    # The monitor's drift reference: raw (unstandardised) training features, sampled.
    reference = model_plane.models.read_json(trained.run_id, "reference_sample.json")
    assert reference is not None
    assert reference["format"] == 1
    assert reference["training_rows"] == len(rebuilt.frame)
    assert reference["sample_rows"] == min(5000, len(rebuilt.frame))
    assert set(reference["columns"]) == set(loaded.spec.feature_names)
    charges = reference["columns"]["monthly_charges"]
    assert set(charges) <= set(rebuilt.frame["monthly_charges"].astype(float))
    assert reference["columns"]["plan"][0] in {"basic", "standard", "premium"}


async def test_a_replayed_request_starts_no_second_run(model_plane: Any) -> None:
    model = name()
    trainer = model_plane.trainer(max_epochs=2)
    request = model_plane.request(model)
    assert await trainer.accept(request, event_id="e-1", correlation_id=None)
    await trainer.run_pending()
    # The same request again, as a redelivery or a re-sent event with a new id.
    assert not await trainer.accept(request, event_id="e-2", correlation_id=None)
    assert await trainer.run_pending() == 0
    assert len(model_plane.publisher.events(ModelTrained)) == 1
    assert [v.version for v in model_plane.models.versions(model)] == [1]


async def test_a_window_without_labels_fails_the_run_and_registers_nothing(
    model_plane: Any,
) -> None:
    model = name()
    trainer = model_plane.trainer()
    start = model_plane.history.end + timedelta(days=30)
    request = model_plane.request(
        model, data_window_start=start, data_window_end=start + timedelta(days=1)
    )
    await trainer.accept(request, event_id="e-1", correlation_id=None)
    await trainer.run_pending()
    [failed] = model_plane.publisher.events(TrainingFailed)
    assert failed.error_type == "TrainingRefused"
    assert "0 labelled examples in the window; at least 200 are needed" in failed.reason
    assert model_plane.models.versions(model) == []
    assert failed.run_id is not None
    assert model_plane.models.run(failed.run_id).status == "FAILED"


async def test_a_failure_after_registering_removes_the_version(
    model_plane: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = name()
    trainer = model_plane.trainer(max_epochs=2)

    def alias_refused(*_args: object) -> None:
        raise ModelStoreError("could not set alias challenger: permission denied")

    monkeypatch.setattr(model_plane.models, "set_alias", alias_refused)
    await trainer.accept(model_plane.request(model), event_id="e-1", correlation_id=None)
    await trainer.run_pending()
    [failed] = model_plane.publisher.events(TrainingFailed)
    assert failed.error_type == "ModelStoreError"
    assert "permission denied" in failed.reason
    assert model_plane.models.versions(model) == []  # the registry is as it was


async def test_an_interrupted_run_is_abandoned_and_the_request_trained_again(
    model_plane: Any,
) -> None:
    model = name()
    trainer = model_plane.trainer(max_epochs=2)
    request = model_plane.request(model)
    await trainer.accept(request, event_id="e-1", correlation_id=None)
    # What a process killed mid-run leaves: a started run and a registered version.
    stale_run = model_plane.models.start_run(model, "interrupted", {})
    await trainer.ledger.started(request.idempotency_key, stale_run)
    source = model_plane.models.log_json(stale_run, {"partial": True}, "model/partial.json")
    model_plane.models.register(
        model,
        run_id=stale_run,
        source=source,
        sha256="0" * 64,
        tags={IDEMPOTENCY_TAG: request.idempotency_key},
    )

    assert await trainer.run_pending() == 1
    [trained] = model_plane.publisher.events(ModelTrained)
    assert trained.run_id != stale_run
    assert model_plane.models.run(stale_run).status == "KILLED"
    assert [v.version for v in model_plane.models.versions(model)] == [trained.model_version]


async def test_an_outcome_the_broker_did_not_take_is_published_by_the_relay_not_retrained(
    model_plane: Any,
) -> None:
    model = name()
    trainer = model_plane.trainer(max_epochs=2)
    request = model_plane.request(model)
    await trainer.accept(request, event_id="e-1", correlation_id=None)
    job = await trainer.ledger.next_job()
    publisher = model_plane.publisher
    # Epoch progress goes out; then the broker fails exactly when the outcome is sent.
    original = publisher.publish

    async def failing_outcome(event: Any, **options: Any) -> str:
        if isinstance(event, ModelTrained):
            publisher.publish = original
            raise ConnectionError("broker unavailable (test)")
        return await original(event, **options)

    publisher.publish = failing_outcome
    await trainer.serve(job)  # stored with its event: the failed publish is not a failure
    assert publisher.events(ModelTrained) == []

    assert await trainer.run_pending() == 0  # trained: nothing to train again
    assert await model_plane.outbox.relay() == 1  # the relay publishes the stored outcome
    assert publisher.ids(ModelTrained) == [f"trainer-gpu:{request.idempotency_key}:outcome"]
    assert [v.version for v in model_plane.models.versions(model)] == [1]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model_name": "fraud"}, "model 'fraud' is not trained here"),
        (
            {"data_window_start": datetime(2020, 1, 1, tzinfo=UTC)},
            "exceeds TRAINER_MAX_WINDOW_DAYS (400)",
        ),
    ],
)
async def test_requests_this_trainer_does_not_serve_fail_before_anything_is_created(
    model_plane: Any, fields: dict[str, Any], message: str
) -> None:
    trainer = model_plane.trainer()
    request = model_plane.request("churn").model_copy(update=fields)
    await trainer.accept(request, event_id="e-1", correlation_id=None)
    await trainer.run_pending()
    [failed] = model_plane.publisher.events(TrainingFailed)
    assert message in failed.reason
    assert failed.run_id is None  # no MLflow run, no experiment, no registered model


async def test_a_failed_run_leaves_the_previous_challenger_in_place(
    model_plane: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = name()
    trainer = model_plane.trainer(max_epochs=2)
    await trainer.accept(model_plane.request(model), event_id="e-1", correlation_id=None)
    await trainer.run_pending()

    def end_refused(*_args: object) -> None:
        raise ModelStoreError("could not end the run: server error")

    monkeypatch.setattr(model_plane.models, "end_run", end_refused)
    await trainer.accept(model_plane.request(model), event_id="e-2", correlation_id=None)
    await trainer.run_pending()
    assert len(model_plane.publisher.events(TrainingFailed)) == 1
    assert [v.version for v in model_plane.models.versions(model)] == [1]
    assert model_plane.models.by_alias(model, CHALLENGER).version == 1


async def test_a_lost_progress_event_does_not_fail_the_run(model_plane: Any) -> None:
    model = name()
    trainer = model_plane.trainer(max_epochs=3, patience=3)
    publisher = model_plane.publisher
    original = publisher.publish

    async def progress_lost(event: Any, **options: Any) -> str:
        if isinstance(event, TrainingProgress) and event.epoch == 2:
            raise ConnectionError("broker unavailable (test)")
        return await original(event, **options)

    publisher.publish = progress_lost
    await trainer.accept(model_plane.request(model), event_id="e-1", correlation_id=None)
    await trainer.run_pending()
    assert [p.epoch for p in publisher.events(TrainingProgress)] == [1, 3]
    assert len(publisher.events(ModelTrained)) == 1
