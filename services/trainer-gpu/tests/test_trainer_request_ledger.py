"""The trainer's durable request queue on real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from trainer_gpu.adapters.request_ledger import MIGRATIONS, RequestStatus, SqlRequestLedger

from mlops_contracts import (
    DatasetSnapshot,
    ModelTrained,
    TrainingFailed,
    TrainingReason,
    TrainingRequested,
)
from service_kit.outbox import Outbox

pytestmark = pytest.mark.connected

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
async def outbox(migrated_database: Any, recording_publisher: Any) -> Outbox:
    return Outbox(await migrated_database(MIGRATIONS), recording_publisher)


@pytest.fixture
def ledger(outbox: Outbox) -> SqlRequestLedger:
    return SqlRequestLedger(outbox.engine, outbox)


def request_for(key: str) -> TrainingRequested:
    return TrainingRequested(
        idempotency_key=key,
        model_name="churn",
        reason=TrainingReason.MANUAL,
        data_window_start=T0,
        data_window_end=T0 + timedelta(days=20),
        requested_at=T0 + timedelta(days=21),
    )


async def test_requests_queue_in_order_and_a_known_key_is_refused(
    ledger: SqlRequestLedger,
) -> None:
    long_id = "e-" + "x" * 400  # CloudEvents ids have no length limit
    assert await ledger.accept(request_for("k1"), event_id=long_id, correlation_id="c" * 300)
    assert await ledger.accept(request_for("k2"), event_id="e-2", correlation_id=None)
    assert not await ledger.accept(request_for("k1"), event_id="e-3", correlation_id=None)
    job = await ledger.next_job()
    assert job is not None
    assert job.key == "k1"
    assert job.request_event_id == long_id
    assert job.status is RequestStatus.PENDING
    assert job.request == request_for("k1")


async def test_a_job_moves_from_running_to_its_outcome_stored_with_its_event(
    ledger: SqlRequestLedger, outbox: Outbox, recording_publisher: Any
) -> None:
    await ledger.accept(request_for("k1"), event_id="e-1", correlation_id=None)
    run_id = uuid.uuid4().hex
    await ledger.started("k1", run_id)
    running = await ledger.get("k1")
    assert running is not None
    assert (running.status, running.run_id) == (RequestStatus.RUNNING, run_id)

    trained = ModelTrained(
        idempotency_key="k1",
        model_name="churn",
        model_version=3,
        run_id=run_id,
        model_uri="mlflow-artifacts:/1/run/artifacts/model",
        sha256="a" * 64,
        metrics={"roc_auc": 0.8},
        dataset=DatasetSnapshot(
            window_start=T0,
            window_end=T0 + timedelta(days=20),
            row_count=10,
            content_sha256="b" * 64,
            feature_view_versions={"customer_activity": "v1"},
        ),
        device="cpu",
        trained_at=T0 + timedelta(days=21),
    )
    assert running == await ledger.next_job()
    await ledger.finished(running, trained)
    assert await ledger.next_job() is None  # trained: no work left
    stored = await ledger.get("k1")
    assert stored is not None
    assert stored.status is RequestStatus.SUCCEEDED
    assert stored.outcome == trained
    assert await outbox.relay() == 1  # the outcome, from the same transaction
    assert recording_publisher.ids(ModelTrained) == ["trainer-gpu:k1:outcome"]

    await ledger.accept(request_for("k2"), event_id="e-2", correlation_id=None)
    failed = TrainingFailed(
        idempotency_key="k2",
        model_name="churn",
        error_type="TrainingRefused",
        reason="too few rows",
        failed_at=T0,
    )
    job = await ledger.get("k2")
    assert job is not None
    await ledger.finished(job, failed)
    again = await ledger.get("k2")
    assert again is not None
    assert again.status is RequestStatus.FAILED
    assert again.outcome == failed
