"""The trigger's use cases over a real SQLite ledger and a recording publisher: replays,
restarts, crashes between record and publish, concurrent deciders, outcomes, labels."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from retrain_trigger.adapters.ledger import MIGRATIONS, SqlTriggerLedger
from retrain_trigger.domain.policy import ExplicitRequest, Outcome, TriggerPolicy
from retrain_trigger.service import RetrainTrigger, drift_signal

from mlops_contracts import (
    DatasetSnapshot,
    DriftDetected,
    FeatureDrift,
    LabelObserved,
    ModelPromoted,
    ModelRejected,
    ModelTrained,
    RejectionReason,
    SuppressionReason,
    TrainingFailed,
    TrainingRequested,
    TrainingSuppressed,
)
from service_kit import ProjectCatalog, UnknownModelError
from service_kit.database import create_engine
from service_kit.outbox import Outbox
from service_kit.schema import migrate
from service_kit.testing import envelope, project_applied

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
POLICY = TriggerPolicy(
    consecutive_drift_windows=3, cooldown=timedelta(0), min_new_labels=0, holdout_days=2
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


Factory = Callable[..., RetrainTrigger]


@pytest.fixture
async def make_trigger(sqlite_url: str, recording_publisher: Any) -> AsyncIterator[Factory]:
    """Triggers on one SQLite file: each call is a fresh process (its own engine and
    outbox, publishing to ``recording_publisher``)."""
    engines = []

    def make(policy: TriggerPolicy = POLICY, clock: Callable[[], datetime] | None = None) -> Any:
        engine = create_engine(sqlite_url)
        engines.append(engine)
        outbox = Outbox(engine, recording_publisher)
        return RetrainTrigger(
            ledger=SqlTriggerLedger(engine, outbox),
            outbox=outbox,
            policy=policy,
            projects=ProjectCatalog([project_applied("churn")]),
            clock=clock or Clock(),
        )

    engines.append(create_engine(sqlite_url))
    await migrate(engines[-1], [MIGRATIONS])
    yield make
    for engine in engines:
        await engine.dispose()


def drift(number: int, *, drifted: bool = True, version: int = 1) -> DriftDetected:
    return DriftDetected(
        window_id=f"w{number}",
        window_start=T0 + timedelta(minutes=number - 1),
        window_end=T0 + timedelta(minutes=number),
        sample_count=500,
        model_name="churn",
        model_version=version,
        features=(
            FeatureDrift(
                feature="usage_minutes", score=0.01, method="ks", threshold=0.05, drifted=drifted
            ),
        ),
        drift_share=1.0 if drifted else 0.0,
        drift_share_threshold=0.5,
        dataset_drift=drifted,
        detected_at=T0 + timedelta(minutes=number),
    )


def trained(key: str, window_end: datetime = T0) -> ModelTrained:
    return ModelTrained(
        idempotency_key=key,
        model_name="churn",
        model_version=2,
        run_id="run-1",
        model_uri="mlflow-artifacts:/1/run-1/artifacts/model",
        sha256="a" * 64,
        metrics={"roc_auc": 0.8},
        dataset=DatasetSnapshot(
            window_start=window_end - timedelta(days=30),
            window_end=window_end,
            row_count=1000,
            content_sha256="b" * 64,
            feature_view_versions={"customer_activity": "1"},
        ),
        device="cpu",
        trained_at=T0,
    )


async def test_replays_and_a_restart_never_request_a_second_training(
    make_trigger: Factory, recording_publisher: Any
) -> None:
    first = make_trigger()
    for number in (1, 2, 3):
        await first.on_window(drift_signal(drift(number), f"e{number}"))
    [requested] = recording_publisher.events(TrainingRequested)
    assert requested.triggering_event_ids == ("e1", "e2", "e3")
    assert requested.requested_by == "retrain-trigger"
    assert requested.requested_at - requested.data_window_end == timedelta(days=2)
    request_ids = recording_publisher.ids(TrainingRequested)

    restarted = make_trigger()  # a new process on the same database
    for number in (1, 2, 3):
        # Redelivered with the same event ids, and re-reported under new ones.
        replayed = await restarted.on_window(drift_signal(drift(number), f"e{number}"))
        await restarted.on_window(drift_signal(drift(number), f"again-{number}"))
    assert replayed.decision.outcome is Outcome.REQUESTED
    await restarted.on_window(drift_signal(drift(4), "e4"))
    await restarted.on_window(drift_signal(drift(5), "e5"))
    assert recording_publisher.events(TrainingRequested) == [requested]
    assert recording_publisher.ids(TrainingRequested) == request_ids
    suppressed = recording_publisher.events(TrainingSuppressed)
    assert [s.reason for s in suppressed] == [
        SuppressionReason.TOO_FEW_CONSECUTIVE_WINDOWS,
        SuppressionReason.TOO_FEW_CONSECUTIVE_WINDOWS,
        SuppressionReason.EPISODE_ALREADY_HANDLED,  # window 5: recorded, not published
    ]
    recorded = await restarted.recent(10)
    assert [s.decision.decision_id for s in recorded] == [
        "drift-churn-w5",
        "drift-churn-w4",
        "drift-churn-w3",
        "drift-churn-w2",
        "drift-churn-w1",
    ]
    assert not recorded[0].decision.announce


async def test_a_decision_recorded_but_not_published_goes_out_once_with_its_event_id(
    make_trigger: Factory, recording_publisher: Any
) -> None:
    trigger = make_trigger()
    await trigger.on_window(drift_signal(drift(1), "e1"))
    await trigger.on_window(drift_signal(drift(2), "e2"))
    recording_publisher.fail_next = 1
    # The broker is down: the decision and its announcement are stored all the same.
    pending = await trigger.on_window(drift_signal(drift(3), "e3"))
    assert pending.decision.outcome is Outcome.REQUESTED
    assert not pending.published
    assert recording_publisher.events(TrainingRequested) == []

    restarted = make_trigger()
    assert await restarted.outbox.relay() == 1  # the relay of the next process
    assert await restarted.outbox.relay() == 0
    again = await restarted.on_window(drift_signal(drift(3), "e3"))  # a redelivery
    assert again.published
    assert recording_publisher.ids(TrainingRequested) == [pending.decision.event_id]


async def test_two_deciders_on_one_database_request_one_training(
    make_trigger: Factory, recording_publisher: Any
) -> None:
    service, cli = make_trigger(), make_trigger()
    await service.on_training_result(
        envelope(trained("earlier"))
    )  # the state row exists: updates race
    decisions = await asyncio.gather(
        *(
            decider.on_explicit(ExplicitRequest(model_name="churn", idempotency_key=f"k{n}"))
            for n, decider in enumerate([service, cli, service, cli])
        )
    )
    outcomes = sorted(d.decision.outcome.value for d in decisions)
    assert outcomes == ["requested", "suppressed", "suppressed", "suppressed"]
    # One training requested: both processes' relays may publish its stored event (at
    # least once, under one event id that consumers deduplicate on), never two requests.
    assert len(set(recording_publisher.ids(TrainingRequested))) == 1
    assert {s.reason for s in recording_publisher.events(TrainingSuppressed)} == {
        SuppressionReason.TRAINING_IN_FLIGHT
    }


async def test_a_model_no_project_declares_is_refused_and_never_trained(
    make_trigger: Factory, recording_publisher: Any
) -> None:
    trigger = make_trigger()
    with pytest.raises(UnknownModelError, match="no model project named '9KKGy'"):
        await trigger.on_explicit(ExplicitRequest(model_name="9KKGy", idempotency_key="k"))
    stray = drift(1).model_copy(update={"model_name": "9KKGy"})  # from any Kafka client
    for _ in range(POLICY.consecutive_drift_windows + 1):
        assert await trigger.on_window(drift_signal(stray, f"e-{uuid.uuid4()}")) is None
    assert recording_publisher.published == []
    assert await trigger.recent(10, None) == []


async def test_the_outcome_of_its_training_frees_the_next_request(
    make_trigger: Factory, recording_publisher: Any
) -> None:
    trigger = make_trigger()
    first = await trigger.on_explicit(ExplicitRequest(model_name="churn", idempotency_key="a"))
    held = await trigger.on_explicit(ExplicitRequest(model_name="churn", idempotency_key="b"))
    assert held.decision.reason is SuppressionReason.TRAINING_IN_FLIGHT
    await trigger.on_training_result(envelope(trained("somebody-else")))
    blocked = await trigger.on_explicit(ExplicitRequest(model_name="churn", idempotency_key="c"))
    assert blocked.decision.reason is SuppressionReason.TRAINING_IN_FLIGHT
    await trigger.on_training_result(
        envelope(
            TrainingFailed(
                idempotency_key=first.decision.idempotency_key or "",
                model_name="churn",
                error_type="RuntimeError",
                reason="boom",
                failed_at=T0,
            )
        )
    )
    forced_b = await trigger.on_explicit(
        ExplicitRequest(model_name="churn", idempotency_key="b", force=True)
    )
    assert forced_b.decision.outcome is Outcome.REQUESTED  # a held-back key, forced
    again_forced = await trigger.on_explicit(
        ExplicitRequest(model_name="churn", idempotency_key="a", force=True)
    )
    assert again_forced.decision == first.decision  # already requested: that request
    await trigger.on_training_result(envelope(trained("b")))
    freed = await trigger.on_explicit(ExplicitRequest(model_name="churn", idempotency_key="d"))
    assert freed.decision.outcome is Outcome.REQUESTED
    # The same key again (a retried HTTP call, a re-run job): the same decision.
    again = await trigger.on_explicit(ExplicitRequest(model_name="churn", idempotency_key="d"))
    assert again.decision == freed.decision
    keys = [e.idempotency_key for e in recording_publisher.events(TrainingRequested)]
    assert keys == ["a", "b", "d"]


async def test_new_labels_are_counted_after_the_newest_training_window(
    make_trigger: Factory, recording_publisher: Any
) -> None:
    policy = TriggerPolicy(consecutive_drift_windows=1, cooldown=timedelta(0), min_new_labels=3)
    trigger = make_trigger(policy)
    await trigger.on_training_result(
        envelope(trained("bootstrap-1", window_end=T0 - timedelta(days=4)))
    )

    def label(number: int, days_ago: float) -> LabelObserved:
        return LabelObserved(
            record_id=f"l{number}",
            customer_id="C-1",
            churned=False,
            observed_at=T0 - timedelta(days=days_ago),
        )

    # Two labels after the bootstrap's window, one before it, one delivered twice.
    await trigger.on_labels(
        [envelope(label(n, ago)) for n, ago in ((1, 5), (2, 3), (3, 1), (3, 1))]
    )
    assert await trigger.ledger.labels_after(None) == 3
    held = await trigger.on_window(drift_signal(drift(1), "e1"))
    assert held.decision.reason is SuppressionReason.TOO_FEW_NEW_LABELS
    assert "2 labels observed since" in held.decision.detail
    await trigger.on_labels([envelope(label(4, 0.5))])
    requested = await trigger.on_window(drift_signal(drift(2), "e2"))
    assert requested.decision.outcome is Outcome.REQUESTED


CHALLENGER_2: dict[str, Any] = {
    "model_name": "churn",
    "model_version": 2,
    "model_uri": "mlflow-artifacts:/1/run-1/artifacts/model",
    "sha256": "a" * 64,
    "gate_metric": "roc_auc",
    "min_margin": 0.0,
    "holdout_rows": 500,
}
"""What the gate says of version 2 whatever it decides."""


async def test_a_promotion_ends_the_episode(make_trigger: Factory) -> None:
    trigger = make_trigger()
    for number in (1, 2):
        await trigger.on_window(drift_signal(drift(number), f"e{number}"))
    await trigger.on_gate_decision(
        envelope(ModelPromoted(**CHALLENGER_2, challenger_metric=0.8, promoted_at=T0))
    )
    stale = await trigger.on_window(drift_signal(drift(3), "e3"))
    assert stale.decision.reason is SuppressionReason.STALE_MODEL_VERSION
    fresh = await trigger.on_window(drift_signal(drift(4, version=2), "e4"))
    assert "flagged window 1 of 3" in fresh.decision.detail


async def test_a_rejected_challenger_reopens_its_episode_for_a_retry(
    make_trigger: Factory, recording_publisher: Any
) -> None:
    trigger = make_trigger()
    decisions = [await trigger.on_window(drift_signal(drift(n), f"e{n}")) for n in (1, 2, 3)]
    key = decisions[-1].decision.idempotency_key or ""
    await trigger.on_training_result(envelope(trained(key)))  # version 2
    handled = await trigger.on_window(drift_signal(drift(4), "e4"))
    assert handled.decision.reason is SuppressionReason.EPISODE_ALREADY_HANDLED
    await make_trigger().on_gate_decision(
        envelope(  # another process: the state is durable
            ModelRejected(
                **CHALLENGER_2,
                challenger_metric=0.4,
                champion_metric=0.5,
                champion_version=1,
                reason=RejectionReason.NOT_BETTER_THAN_CHAMPION,
                detail="0.4 < 0.5",
                rejected_at=T0,
            )
        )
    )
    retry = await make_trigger().on_window(drift_signal(drift(5), "e5"))
    assert retry.decision.outcome is Outcome.REQUESTED
    keys = [e.idempotency_key for e in recording_publisher.events(TrainingRequested)]
    assert keys == [key, key.replace("-a1", "-a2")]


async def test_the_schedule_is_judged_once_per_slot(
    make_trigger: Factory, recording_publisher: Any
) -> None:
    clock = Clock()
    policy = TriggerPolicy(schedule_interval=timedelta(hours=1), min_new_labels=0)
    trigger = make_trigger(policy, clock)
    assert await make_trigger().on_schedule("churn") is None  # off by default
    first = await trigger.on_schedule("churn")
    clock.now += timedelta(minutes=10)
    same_slot = await trigger.on_schedule("churn")
    assert first is not None
    assert same_slot is not None
    assert same_slot.decision == first.decision
    clock.now += timedelta(hours=1)
    next_slot = await trigger.on_schedule("churn")
    assert next_slot is not None
    assert next_slot.decision.reason is SuppressionReason.TRAINING_IN_FLIGHT
    assert len(recording_publisher.events(TrainingRequested)) == 1
