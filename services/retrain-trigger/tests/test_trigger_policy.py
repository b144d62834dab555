"""The retraining policy as pure functions: episodes, consecutive windows, cooldown, one in
flight with its timeout, the label minimum, the schedule and explicit requests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from retrain_trigger.domain.policy import (
    Decision,
    ExplicitRequest,
    Outcome,
    PolicyState,
    TriggerPolicy,
    WindowSignal,
    bounded_id,
    judge_explicit,
    judge_schedule,
    judge_window,
    model_promoted,
    model_rejected,
    schedule_slot,
    training_finished,
    training_window,
)

from mlops_contracts import SuppressionReason, TrainingReason, TrainingRequested, TrainingSuppressed

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
POLICY = TriggerPolicy(
    consecutive_drift_windows=3,
    consecutive_degraded_windows=2,
    cooldown=timedelta(hours=1),
    in_flight_timeout=timedelta(hours=3),
    min_new_labels=100,
    window_days=30,
    holdout_days=2,
)
DRIFT = TrainingReason.DRIFT
PERFORMANCE = TrainingReason.PERFORMANCE


def window(
    number: int,
    *,
    flagged: bool = True,
    version: int = 1,
    signal: TrainingReason = DRIFT,
) -> WindowSignal:
    return WindowSignal(
        signal=signal,
        model_name="churn",
        model_version=version,
        window_id=f"w{number}",
        window_end=T0 + timedelta(minutes=number),
        event_id=f"e{number}",
        flagged=flagged,
        summary="numbers",
    )


def run(
    state: PolicyState,
    windows: list[WindowSignal],
    *,
    start: datetime = T0,
    step: timedelta = timedelta(minutes=5),
    labels: int = 1000,
    policy: TriggerPolicy = POLICY,
) -> tuple[list[Decision], PolicyState]:
    decisions = []
    for index, signal in enumerate(windows):
        decision, state = judge_window(
            policy, state, signal, start + index * step, new_labels=labels
        )
        decisions.append(decision)
    return decisions, state


def outcomes(decisions: list[Decision]) -> list[str]:
    return [d.reason.value if d.reason else d.outcome.value for d in decisions]


FRESH = PolicyState(model_name="churn")


def test_the_third_drifted_window_in_a_row_requests_once_per_episode() -> None:
    decisions, state = run(FRESH, [window(n) for n in range(1, 7)])
    assert outcomes(decisions) == [
        "too_few_consecutive_windows",
        "too_few_consecutive_windows",
        "requested",
        "episode_already_handled",
        "episode_already_handled",
        "episode_already_handled",
    ]
    requested = decisions[2]
    assert requested.triggering_event_ids == ("e1", "e2", "e3")
    assert requested.idempotency_key == "retrain-churn-drift-v1-w1-a1"
    # Only the first "already handled" of the episode is published: no spam.
    assert [d.announce for d in decisions] == [True, True, True, True, False, False]
    assert state.in_flight is not None
    assert state.in_flight.idempotency_key == requested.idempotency_key


def test_a_calm_window_ends_the_episode_and_restarts_the_count() -> None:
    decisions, state = run(
        FRESH, [window(1), window(2), window(3, flagged=False), window(4), window(5)]
    )
    assert outcomes(decisions) == [
        "too_few_consecutive_windows",
        "too_few_consecutive_windows",
        "not_drifted",
        "too_few_consecutive_windows",
        "too_few_consecutive_windows",
    ]
    assert decisions[2].announce  # it ended an open episode: news
    assert "ends the episode of 2" in decisions[2].detail
    calm, _ = judge_window(POLICY, FRESH, window(9, flagged=False), T0, new_labels=0)
    assert not calm.announce  # a calm window with no episode open: recorded, not published
    assert state.drift.count == 2


def test_a_new_episode_after_the_handled_one_gets_its_own_key_after_the_cooldown() -> None:
    first, state = run(FRESH, [window(n) for n in (1, 2, 3)])
    state = training_finished(state, first[2].idempotency_key or "", succeeded=True)
    assert state.in_flight is None
    _, state = judge_window(POLICY, state, window(4, flagged=False), T0, new_labels=1000)
    # Within the cooldown (1 h after the request at T0 + 10 min): held back.
    soon, state = run(state, [window(n) for n in (5, 6, 7)], start=T0 + timedelta(minutes=20))
    assert outcomes(soon)[-1] == "cooldown"
    later, _ = run(state, [window(8)], start=T0 + timedelta(hours=2))
    assert later[0].outcome is Outcome.REQUESTED
    assert later[0].idempotency_key == "retrain-churn-drift-v1-w5-a1"
    assert later[0].triggering_event_ids == ("e5", "e6", "e7", "e8")


def test_one_training_in_flight_until_its_outcome_or_timeout() -> None:
    _, state = run(FRESH, [window(n) for n in (1, 2, 3)])
    # A performance episode while the drift training runs: held back by the one in flight.
    degraded = [window(n, signal=PERFORMANCE) for n in (1, 2)]
    late = T0 + timedelta(hours=2)  # past the cooldown, within the in-flight timeout
    decisions, state = run(state, degraded, start=late)
    assert outcomes(decisions) == ["too_few_consecutive_windows", "training_in_flight"]
    # Past the timeout, the lost training no longer blocks.
    decisions, _ = run(state, [window(3, signal=PERFORMANCE)], start=T0 + timedelta(hours=4))
    assert decisions[0].outcome is Outcome.REQUESTED
    assert decisions[0].idempotency_key == "retrain-churn-performance-v1-w1-a1"
    # An outcome for another key does not clear it; its own key does.
    assert training_finished(state, "someone-else", succeeded=True).in_flight is not None
    assert state.in_flight is not None
    cleared = training_finished(state, state.in_flight.idempotency_key, succeeded=False)
    assert cleared.in_flight is None


def test_a_failed_training_reopens_its_episode_under_a_new_attempt() -> None:
    decisions, state = run(FRESH, [window(n) for n in (1, 2, 3)])
    key = decisions[2].idempotency_key or ""
    state = training_finished(state, key, succeeded=False)
    retry, _ = run(state, [window(4)], start=T0 + timedelta(hours=2))
    assert retry[0].outcome is Outcome.REQUESTED
    assert retry[0].idempotency_key == "retrain-churn-drift-v1-w1-a2"


def test_a_rejected_model_reopens_its_episode_and_the_cooldown_paces_the_retry() -> None:
    decisions, state = run(FRESH, [window(n) for n in (1, 2, 3)])
    key = decisions[2].idempotency_key or ""
    state = training_finished(state, key, succeeded=True, model_version=2)
    assert state.in_flight is None
    assert state.drift.trained_version == 2
    assert model_rejected(state, 7) == state  # another training's version: not this episode
    state = model_rejected(state, 2)
    assert not state.drift.handled
    soon, state = run(state, [window(4)], start=T0 + timedelta(minutes=30))
    assert outcomes(soon) == ["cooldown"]
    retry, state = run(state, [window(5)], start=T0 + timedelta(hours=2))
    assert retry[0].outcome is Outcome.REQUESTED
    assert retry[0].idempotency_key == "retrain-churn-drift-v1-w1-a2"
    assert model_rejected(state, 2) == state  # a replayed rejection re-opens nothing
    again, _ = run(state, [window(6)], start=T0 + timedelta(hours=4))
    assert outcomes(again) == ["episode_already_handled"]


def test_too_few_new_labels_hold_back_and_are_published_once() -> None:
    decisions, _ = run(FRESH, [window(n) for n in range(1, 6)], labels=99)
    assert outcomes(decisions)[2:] == ["too_few_new_labels"] * 3
    assert [d.announce for d in decisions[2:]] == [True, False, False]
    assert "99 labels observed so far; at least 100 needed" in decisions[2].detail


def test_a_promotion_ends_the_episode_and_windows_of_older_versions_are_stale() -> None:
    _, state = run(FRESH, [window(1), window(2)])
    state = model_promoted(state, 2)
    assert state.drift.count == 0
    stale, state = run(state, [window(3, version=1), window(4, version=1)])
    assert outcomes(stale) == ["stale_model_version", "stale_model_version"]
    assert [d.announce for d in stale] == [True, False]
    fresh, _ = run(state, [window(5, version=2)])
    assert "flagged window 1 of 3" in fresh[0].detail
    assert model_promoted(state, 1) == state  # a replayed, older promotion changes nothing
    # Windows of the new version seen before its promotion: their episode goes on.
    _, early = run(FRESH, [window(1, version=3)])
    assert model_promoted(early, 3).drift.count == 1


def test_windows_of_a_new_version_start_a_new_episode_and_old_ones_no_longer_count() -> None:
    decisions, state = run(FRESH, [window(1), window(2), window(3, version=2)])
    assert "flagged window 1 of 3" in decisions[2].detail
    # A rollout: the old version's last windows close after the new one's first.
    late, state = run(state, [window(4, version=1), window(5, version=1, flagged=False)])
    assert outcomes(late) == ["stale_model_version", "stale_model_version"]
    assert state.drift.count == 1
    later, _ = run(state, [window(6, version=2), window(7, version=2)])
    assert later[-1].outcome is Outcome.REQUESTED


def test_the_request_window_leaves_a_holdout() -> None:
    decisions, _ = run(FRESH, [window(n) for n in (1, 2, 3)])
    event = decisions[2].event()
    assert isinstance(event, TrainingRequested)
    assert event.requested_by == "retrain-trigger"
    assert event.reason is TrainingReason.DRIFT
    assert event.requested_at - event.data_window_end == timedelta(days=2)
    assert event.data_window_end - event.data_window_start == timedelta(days=30)
    suppressed = decisions[0].event()
    assert isinstance(suppressed, TrainingSuppressed)
    assert suppressed.reason is SuppressionReason.TOO_FEW_CONSECUTIVE_WINDOWS
    assert suppressed.decision_id == decisions[0].decision_id


def test_training_window_refuses_impossible_windows() -> None:
    start, end = training_window(T0, window_days=10, holdout_days=1)
    assert (end, start) == (T0 - timedelta(days=1), T0 - timedelta(days=11))
    with pytest.raises(ValueError, match="window_days"):
        training_window(T0, window_days=0, holdout_days=1)
    with pytest.raises(ValueError, match="holdout_days"):
        training_window(T0, window_days=1, holdout_days=-1)


def test_the_schedule_requests_when_nothing_was_trained_within_its_interval() -> None:
    policy = TriggerPolicy(schedule_interval=timedelta(hours=24), min_new_labels=10)
    assert schedule_slot(TriggerPolicy(), T0) is None
    assert schedule_slot(policy, T0 + timedelta(hours=5)) == datetime(2026, 11, 21, tzinfo=UTC)
    first, state = judge_schedule(policy, FRESH, T0, new_labels=50)
    assert first.outcome is Outcome.REQUESTED
    assert first.decision_id == "schedule-churn-20261121T000000"
    assert first.idempotency_key == "retrain-churn-schedule-churn-20261121T000000"
    state = training_finished(state, first.idempotency_key or "", succeeded=True)
    next_day, state = judge_schedule(policy, state, T0 + timedelta(hours=20), new_labels=50)
    assert next_day.reason is SuppressionReason.COOLDOWN  # requested 20 h ago: not due
    due, _ = judge_schedule(policy, state, T0 + timedelta(days=2), new_labels=5)
    assert due.reason is SuppressionReason.TOO_FEW_NEW_LABELS
    # A training somebody else ran (e.g. `mlops train`) counts as well.
    trained = training_finished(FRESH, "manual-1", succeeded=True, finished_at=T0)
    recent, _ = judge_schedule(policy, trained, T0 + timedelta(hours=3), new_labels=50)
    assert recent.reason is SuppressionReason.COOLDOWN


def test_explicit_requests_skip_counting_cooldown_and_labels_but_not_one_in_flight() -> None:
    manual = ExplicitRequest(model_name="churn", idempotency_key="by-hand-1")
    requested, state = judge_explicit(POLICY, FRESH, manual, T0)
    assert requested.outcome is Outcome.REQUESTED
    assert requested.idempotency_key == "by-hand-1"
    again = ExplicitRequest(model_name="churn", idempotency_key="by-hand-2", window_days=5)
    held, _ = judge_explicit(POLICY, state, again, T0 + timedelta(minutes=1))
    assert held.reason is SuppressionReason.TRAINING_IN_FLIGHT
    assert held.announce
    assert "force=true" in held.detail
    forced_request = ExplicitRequest(
        model_name="churn", idempotency_key="by-hand-3", force=True, window_days=5
    )
    forced, _ = judge_explicit(POLICY, state, forced_request, T0 + timedelta(minutes=1))
    assert forced.outcome is Outcome.REQUESTED
    event = forced.event()
    assert isinstance(event, TrainingRequested)
    assert event.data_window_end - event.data_window_start == timedelta(days=5)
    with pytest.raises(ValueError, match="manual or schedule"):
        ExplicitRequest(model_name="churn", idempotency_key="k", reason=TrainingReason.DRIFT)
    with pytest.raises(ValueError, match="window_days"):
        ExplicitRequest(model_name="churn", idempotency_key="k", window_days=-1)


def test_long_ids_are_shortened_stably_to_fit_event_identifiers() -> None:
    long_id = "w" * 500
    assert bounded_id(long_id) == bounded_id(long_id)
    assert len(bounded_id(long_id)) == 200
    assert bounded_id(long_id) != bounded_id("w" * 499 + "x")
    long_window = replace(window(1), window_id=long_id)
    decision, _ = judge_window(POLICY, FRESH, long_window, T0, new_labels=0)
    assert len(decision.decision_id) <= 200
    event = decision.event()
    assert isinstance(event, TrainingSuppressed)
    assert event.decision_id == decision.decision_id
