"""The retraining policy, as pure functions of (policy, state, signal, now) -> (decision, state).

Signals are drift windows, degraded-performance windows, schedule slots and explicit
(manual or scheduled-job) requests. Each one is judged exactly once and yields one
:class:`Decision`: a training request or a suppression with its reason. Training outcomes
and gate decisions only move the state (they clear the training in flight, end episodes).

An *episode* is a run of consecutive flagged windows (drifted, or degraded) of one model
version. It ends with an unflagged window, a window of a newer model version, or the
promotion of a new champion. An episode requests at most one training per attempt, under
an idempotency key derived from its first window and the attempt, so a replayed window, a
restart or a second replica never requests twice. Only a ``TrainingFailed`` for that key,
or the gate's rejection of the version it trained, re-opens the episode (a new attempt,
hence a new key); the cooldown and the minimum of new labels then pace the retry, so a
model that lost the gate is retrained on fresher data rather than never again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from mlops_contracts import (
    SuppressionReason,
    TrainingReason,
    TrainingRequested,
    TrainingSuppressed,
)

REQUESTED_BY = "retrain-trigger"
"""``requested_by`` of the trigger's own requests."""

_MAX_ID = 200  # Identifier's limit in the contracts (and the processed-ids column)
_MAX_TRIGGERING = 50

WINDOW_SIGNALS = (TrainingReason.DRIFT, TrainingReason.PERFORMANCE)
_NOT_FLAGGED = {
    TrainingReason.DRIFT: SuppressionReason.NOT_DRIFTED,
    TrainingReason.PERFORMANCE: SuppressionReason.NOT_DEGRADED,
}


def bounded_id(text: str) -> str:
    """``text`` when it fits an event identifier (200 characters), else a stable shortening
    that keeps its start readable and its identity (a SHA-256 suffix)."""
    if len(text) <= _MAX_ID:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{text[: _MAX_ID - 17]}-{digest}"


def training_window(
    now: datetime, *, window_days: float, holdout_days: float
) -> tuple[datetime, datetime]:
    """The data window of a training requested at ``now``: ``window_days`` long, ending
    ``holdout_days`` before ``now`` so that labels observed after it are left to the
    promotion gate's fresh holdout (the rule of the launcher's bootstrap and `mlops train`)."""
    if window_days <= 0:
        raise ValueError(f"window_days must be positive, not {window_days:g}")
    if holdout_days < 0:
        raise ValueError(f"holdout_days must not be negative, not {holdout_days:g}")
    end = now - timedelta(days=holdout_days)
    return end - timedelta(days=window_days), end


@dataclass(frozen=True)
class TriggerPolicy:
    """The knobs of the policy (see the service settings for their meaning and defaults)."""

    consecutive_drift_windows: int = 3
    consecutive_degraded_windows: int = 2
    cooldown: timedelta = timedelta(hours=1)
    in_flight_timeout: timedelta = timedelta(hours=3)
    min_new_labels: int = 100
    schedule_interval: timedelta | None = None
    window_days: float = 30.0
    holdout_days: float = 2.0

    def required_windows(self, signal: TrainingReason) -> int:
        """Consecutive flagged windows that make an episode worth a training."""
        if signal is TrainingReason.DRIFT:
            return self.consecutive_drift_windows
        return self.consecutive_degraded_windows


# ------------------------------------------------------------------------------ state


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Streak(_Frozen):
    """The open episode of one window signal: consecutive flagged windows of one version."""

    model_version: int | None = None
    window_ids: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()
    handled: bool = False
    """A training was requested for this episode (no second one)."""
    attempt: int = 1
    """Raised when the episode's training failed or lost the gate: the next request gets a
    new key."""
    requested_key: str | None = None
    trained_version: int | None = None
    """The version the requested training produced (the gate's rejection of it re-opens
    the episode)."""

    @property
    def count(self) -> int:
        """Flagged windows in the episode so far."""
        return len(self.window_ids)

    @property
    def episode_id(self) -> str | None:
        """The episode's identity: its model version and first window."""
        if not self.window_ids:
            return None
        return f"v{self.model_version}-{self.window_ids[0]}"


class InFlight(_Frozen):
    """The training the trigger is waiting for."""

    idempotency_key: str
    requested_at: datetime


class PolicyState(_Frozen):
    """Everything the policy remembers about one model (kept durable by the ledger)."""

    model_name: str
    drift: Streak = Streak()
    performance: Streak = Streak()
    in_flight: InFlight | None = None
    last_requested_at: datetime | None = None
    """When the trigger last requested a training (any signal): the cooldown's start."""
    last_trained_at: datetime | None = None
    """When the newest training known finished (any requester, from ModelTrained)."""
    last_window_end: datetime | None = None
    """End of the newest training window known: labels after it are "new"."""
    champion_version: int | None = None
    """Newest version promoted: windows of older versions are stale."""
    announced: tuple[str, ...] = ()
    """``signal:reason`` suppressions already published since the signal's last change,
    so a long episode does not publish the same suppression window after window."""

    def streak(self, signal: TrainingReason) -> Streak:
        """The open episode of a window signal."""
        return self.drift if signal is TrainingReason.DRIFT else self.performance

    def with_streak(self, signal: TrainingReason, streak: Streak) -> PolicyState:
        """This state with ``signal``'s episode replaced."""
        field = "drift" if signal is TrainingReason.DRIFT else "performance"
        return self.model_copy(update={field: streak})

    def quiet_again(self, signal: TrainingReason) -> PolicyState:
        """Forget which of ``signal``'s suppressions were published (its situation changed)."""
        prefix = f"{signal.value}:"
        kept = tuple(entry for entry in self.announced if not entry.startswith(prefix))
        return self.model_copy(update={"announced": kept})


# ------------------------------------------------------------------------------ signals


@dataclass(frozen=True)
class WindowSignal:
    """One monitoring window: drifted or not (DriftDetected), degraded or not
    (PerformanceDegraded)."""

    signal: TrainingReason
    model_name: str
    model_version: int
    window_id: str
    window_end: datetime
    event_id: str
    flagged: bool
    summary: str
    """The window's numbers in words (drift share, metric value) for the decision detail."""

    @property
    def decision_id(self) -> str:
        """One decision per window of a model, whatever event id re-reports it."""
        return bounded_id(f"{self.signal.value}-{self.model_name}-{self.window_id}")


@dataclass(frozen=True)
class ExplicitRequest:
    """A training asked for by a person (REST, CLI) or a scheduler job (the CronJob)."""

    model_name: str
    idempotency_key: str
    reason: TrainingReason = TrainingReason.MANUAL
    force: bool = False
    """Request even while another training is in flight."""
    window_days: float | None = None
    holdout_days: float | None = None
    requested_by: str = REQUESTED_BY

    def __post_init__(self) -> None:
        if self.reason not in (TrainingReason.MANUAL, TrainingReason.SCHEDULE):
            raise ValueError(f"an explicit request is manual or schedule, not {self.reason}")
        if self.window_days is not None and self.window_days <= 0:
            raise ValueError(f"window_days must be positive, not {self.window_days:g}")
        if self.holdout_days is not None and self.holdout_days < 0:
            raise ValueError(f"holdout_days must not be negative, not {self.holdout_days:g}")

    @property
    def decision_id(self) -> str:
        """One decision per idempotency key (and ``force``): a retried call returns the same
        decision, while a forced retry of a held-back request is judged anew."""
        forced = "-forced" if self.force else ""
        return bounded_id(f"{self.reason.value}-{self.model_name}-{self.idempotency_key}{forced}")


# ------------------------------------------------------------------------------ decisions


class Outcome(StrEnum):
    """What a decision did."""

    REQUESTED = "requested"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class Decision:
    """The verdict on one signal, and the event that announces it (if any)."""

    decision_id: str
    model_name: str
    signal: TrainingReason
    outcome: Outcome
    reason: SuppressionReason | None
    detail: str
    triggering_event_ids: tuple[str, ...]
    decided_at: datetime
    announce: bool
    """Whether the decision is published (every request; only informative suppressions)."""
    idempotency_key: str | None = None
    data_window_start: datetime | None = None
    data_window_end: datetime | None = None
    requested_by: str = REQUESTED_BY

    @property
    def event_id(self) -> str:
        """The CloudEvents id of the announcement: the same on every republish."""
        return bounded_id(f"retrain-trigger-{self.decision_id}")

    def event(self) -> TrainingRequested | TrainingSuppressed:
        """The announcement: ``TrainingRequested`` or ``TrainingSuppressed``."""
        if self.outcome is Outcome.REQUESTED:
            assert self.idempotency_key is not None
            assert self.data_window_start is not None
            assert self.data_window_end is not None
            return TrainingRequested(
                idempotency_key=self.idempotency_key,
                model_name=self.model_name,
                reason=self.signal,
                data_window_start=self.data_window_start,
                data_window_end=self.data_window_end,
                triggering_event_ids=self.triggering_event_ids,
                requested_by=self.requested_by,
                requested_at=self.decided_at,
            )
        assert self.reason is not None
        return TrainingSuppressed(
            decision_id=self.decision_id,
            model_name=self.model_name,
            signal=self.signal,
            reason=self.reason,
            detail=self.detail[:4000],
            triggering_event_ids=self.triggering_event_ids,
            decided_at=self.decided_at,
        )


Judged = tuple[Decision, PolicyState]


def _ago(now: datetime, then: datetime) -> str:
    minutes = (now - then).total_seconds() / 60
    return f"{minutes:.0f} min ago" if minutes < 120 else f"{minutes / 60:.1f} h ago"


def held_back_by(
    policy: TriggerPolicy,
    state: PolicyState,
    now: datetime,
    *,
    new_labels: int,
    automatic: bool = True,
    force: bool = False,
) -> tuple[SuppressionReason, str] | None:
    """The first gate that holds a training back, with the numbers; None when none does.

    Gates: one training in flight (expiring after ``in_flight_timeout``; ``force`` skips
    it), then, for automatic signals only, the cooldown after the last request and the
    minimum of new labels since the newest training window."""
    flight = state.in_flight
    if flight is not None and not force and now - flight.requested_at < policy.in_flight_timeout:
        return (
            SuppressionReason.TRAINING_IN_FLIGHT,
            f"training {flight.idempotency_key} requested {_ago(now, flight.requested_at)} "
            f"is still in flight (it counts as lost after {policy.in_flight_timeout})",
        )
    if not automatic:
        return None
    last = state.last_requested_at
    if last is not None and now - last < policy.cooldown:
        return (
            SuppressionReason.COOLDOWN,
            f"the last training was requested {_ago(now, last)}; cooldown {policy.cooldown}",
        )
    if new_labels < policy.min_new_labels:
        since = (
            f"since the newest training window ended ({state.last_window_end.isoformat()})"
            if state.last_window_end
            else "so far"
        )
        return (
            SuppressionReason.TOO_FEW_NEW_LABELS,
            f"{new_labels} labels observed {since}; at least {policy.min_new_labels} needed",
        )
    return None


def _announce_once(state: PolicyState, signal: TrainingReason, reason: SuppressionReason) -> bool:
    return f"{signal.value}:{reason.value}" not in state.announced


@dataclass(frozen=True)
class _Judging:
    """The signal being judged: what every decision about it carries."""

    decision_id: str
    signal: TrainingReason
    triggering: tuple[str, ...]
    now: datetime


def _suppressed(
    state: PolicyState,
    judging: _Judging,
    *,
    reason: SuppressionReason,
    detail: str,
    announce: bool,
) -> Judged:
    decision = Decision(
        decision_id=judging.decision_id,
        model_name=state.model_name,
        signal=judging.signal,
        outcome=Outcome.SUPPRESSED,
        reason=reason,
        detail=detail,
        triggering_event_ids=judging.triggering,
        decided_at=judging.now,
        announce=announce,
    )
    if announce:
        entry = f"{judging.signal.value}:{reason.value}"
        if entry not in state.announced:
            state = state.model_copy(update={"announced": (*state.announced, entry)})
    return decision, state


def _requested(
    policy: TriggerPolicy,
    state: PolicyState,
    judging: _Judging,
    *,
    idempotency_key: str,
    detail: str,
    window_days: float | None = None,
    holdout_days: float | None = None,
    requested_by: str = REQUESTED_BY,
) -> Judged:
    now = judging.now
    start, end = training_window(
        now,
        window_days=policy.window_days if window_days is None else window_days,
        holdout_days=policy.holdout_days if holdout_days is None else holdout_days,
    )
    key = bounded_id(idempotency_key)
    decision = Decision(
        decision_id=judging.decision_id,
        model_name=state.model_name,
        signal=judging.signal,
        outcome=Outcome.REQUESTED,
        reason=None,
        detail=detail,
        triggering_event_ids=judging.triggering,
        decided_at=now,
        announce=True,
        idempotency_key=key,
        data_window_start=start,
        data_window_end=end,
        requested_by=requested_by,
    )
    newest_end = max(end, state.last_window_end) if state.last_window_end else end
    state = state.model_copy(
        update={
            "in_flight": InFlight(idempotency_key=key, requested_at=now),
            "last_requested_at": now,
            "last_window_end": newest_end,
            "announced": (),  # a new situation for every signal
        }
    )
    return decision, state


def judge_window(
    policy: TriggerPolicy,
    state: PolicyState,
    window: WindowSignal,
    now: datetime,
    *,
    new_labels: int,
) -> Judged:
    """Judge one drift or performance window (see the module docstring for episodes)."""
    signal = window.signal
    streak = state.streak(signal)
    judging = _Judging(window.decision_id, signal, (window.event_id,), now)
    # Versions only move forward: during a rollout, windows of the old version still close
    # after the new one's began (and before the trigger may have seen the promotion).
    newest = max(v for v in (state.champion_version, streak.model_version, 0) if v is not None)
    if window.model_version < newest:
        return _suppressed(
            state,
            judging,
            reason=SuppressionReason.STALE_MODEL_VERSION,
            detail=f"window {window.window_id} was served by version {window.model_version}; "
            f"version {newest} serves now ({window.summary})",
            announce=_announce_once(state, signal, SuppressionReason.STALE_MODEL_VERSION),
        )
    if not window.flagged:
        ended = streak.count > 0
        outcome = (
            f"ends the episode of {streak.count} flagged window(s) of version "
            f"{streak.model_version}"
            + (f" (training {streak.requested_key} requested)" if streak.handled else "")
            if ended
            else "no episode open"
        )
        state = state.with_streak(signal, Streak()).quiet_again(signal)
        return _suppressed(
            state,
            judging,
            reason=_NOT_FLAGGED[signal],
            detail=f"window {window.window_id}: {window.summary}; {outcome}",
            announce=ended,  # only the end of an episode is news
        )

    if streak.model_version != window.model_version:  # a new version: a new episode
        streak = Streak(model_version=window.model_version)
        state = state.quiet_again(signal)
    streak = streak.model_copy(
        update={
            "window_ids": (*streak.window_ids, window.window_id),
            "event_ids": (*streak.event_ids, window.event_id),
        }
    )
    state = state.with_streak(signal, streak)
    required = policy.required_windows(signal)
    if streak.handled:
        return _suppressed(
            state,
            judging,
            reason=SuppressionReason.EPISODE_ALREADY_HANDLED,
            detail=f"window {window.window_id} ({window.summary}) continues episode "
            f"{streak.episode_id}, which already requested training {streak.requested_key}",
            announce=_announce_once(state, signal, SuppressionReason.EPISODE_ALREADY_HANDLED),
        )
    if streak.count < required:
        return _suppressed(
            state,
            judging,
            reason=SuppressionReason.TOO_FEW_CONSECUTIVE_WINDOWS,
            detail=f"window {window.window_id} ({window.summary}) is flagged window "
            f"{streak.count} of {required} needed in a row",
            announce=True,  # progress of the episode: at most required - 1 of them
        )
    held = held_back_by(policy, state, now, new_labels=new_labels)
    # The episode's windows are what led here (the newest ones, should it run long).
    judging = replace(judging, triggering=streak.event_ids[-_MAX_TRIGGERING:])
    if held is not None:
        reason, why = held
        return _suppressed(
            state,
            judging,
            reason=reason,
            detail=f"{streak.count} flagged windows in a row (episode {streak.episode_id}), "
            f"but {why}",
            announce=_announce_once(state, signal, reason),
        )
    key = f"retrain-{state.model_name}-{signal.value}-{streak.episode_id}-a{streak.attempt}"
    streak = streak.model_copy(update={"handled": True, "requested_key": bounded_id(key)})
    return _requested(
        policy,
        state.with_streak(signal, streak),
        judging,
        idempotency_key=key,
        detail=f"{streak.count} {signal.value} windows in a row of version "
        f"{window.model_version} (episode {streak.episode_id}); {new_labels} new labels",
    )


def schedule_slot(policy: TriggerPolicy, now: datetime) -> datetime | None:
    """Start of the schedule slot ``now`` falls in (slots are aligned on the Unix epoch),
    or None when the schedule is off."""
    interval = policy.schedule_interval
    if interval is None:
        return None
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    slots = (now - epoch) // interval
    return epoch + slots * interval


def schedule_decision_id(model_name: str, slot: datetime) -> str:
    """One decision per model and schedule slot."""
    return bounded_id(f"schedule-{model_name}-{slot.astimezone(UTC):%Y%m%dT%H%M%S}")


def judge_schedule(
    policy: TriggerPolicy, state: PolicyState, now: datetime, *, new_labels: int
) -> Judged:
    """Judge the schedule slot ``now`` falls in: a training is due when none was requested
    or finished within the interval; then the usual gates apply."""
    slot = schedule_slot(policy, now)
    if slot is None or policy.schedule_interval is None:
        raise ValueError("the schedule is off")
    signal = TrainingReason.SCHEDULE
    decision_id = schedule_decision_id(state.model_name, slot)
    judging = _Judging(decision_id, signal, (), now)
    recent = [t for t in (state.last_requested_at, state.last_trained_at) if t is not None]
    if recent and now - max(recent) < policy.schedule_interval:
        return _suppressed(
            state,
            judging,
            reason=SuppressionReason.COOLDOWN,
            detail=f"a training was requested or finished {_ago(now, max(recent))}, within "
            f"the schedule interval of {policy.schedule_interval}",
            announce=_announce_once(state, signal, SuppressionReason.COOLDOWN),
        )
    held = held_back_by(policy, state, now, new_labels=new_labels)
    if held is not None:
        reason, why = held
        return _suppressed(
            state,
            judging,
            reason=reason,
            detail=f"scheduled training due, but {why}",
            announce=_announce_once(state, signal, reason),
        )
    return _requested(
        policy,
        state,
        judging,
        idempotency_key=f"retrain-{state.model_name}-{decision_id}",
        detail=f"scheduled every {policy.schedule_interval}; {new_labels} new labels",
    )


def judge_explicit(
    policy: TriggerPolicy, state: PolicyState, request: ExplicitRequest, now: datetime
) -> Judged:
    """Judge a request by a person or a scheduler job: no window counting, no cooldown, no
    label minimum (somebody asked), but one training in flight unless ``force``."""
    judging = _Judging(request.decision_id, request.reason, (), now)
    held = held_back_by(policy, state, now, new_labels=0, automatic=False, force=request.force)
    if held is not None:
        reason, why = held
        return _suppressed(
            state,
            judging,
            reason=reason,
            detail=f"{request.reason.value} request {request.idempotency_key} by "
            f"{request.requested_by}: {why}; send force=true to request anyway",
            announce=True,  # somebody asked: always answer
        )
    forced = " (forced past the training in flight)" if request.force and state.in_flight else ""
    return _requested(
        policy,
        state,
        judging,
        idempotency_key=request.idempotency_key,
        detail=f"{request.reason.value} request by {request.requested_by}{forced}",
        window_days=request.window_days,
        holdout_days=request.holdout_days,
        requested_by=request.requested_by,
    )


# ------------------------------------------------------------------------------ outcomes


def training_finished(
    state: PolicyState,
    idempotency_key: str,
    *,
    succeeded: bool,
    window_end: datetime | None = None,
    finished_at: datetime | None = None,
    model_version: int | None = None,
) -> PolicyState:
    """A ``ModelTrained`` (``succeeded``) or ``TrainingFailed`` for ``idempotency_key``,
    whoever requested it: clears the training in flight when it is that one; a success
    moves the newest window end (labels after it are new) and notes the version an
    episode's training produced; a failure re-opens the episode that requested it, under a
    new attempt number."""
    update: dict[str, object] = {}
    if state.in_flight is not None and state.in_flight.idempotency_key == idempotency_key:
        update["in_flight"] = None
    if succeeded:
        if window_end is not None and (
            state.last_window_end is None or window_end > state.last_window_end
        ):
            update["last_window_end"] = window_end
        if finished_at is not None and (
            state.last_trained_at is None or finished_at > state.last_trained_at
        ):
            update["last_trained_at"] = finished_at
    state = state.model_copy(update=update) if update else state
    for signal in WINDOW_SIGNALS:
        streak = state.streak(signal)
        if not (streak.handled and streak.requested_key == idempotency_key):
            continue
        if not succeeded:
            state = state.with_streak(signal, _reopened(streak))
        elif model_version is not None:
            trained = streak.model_copy(update={"trained_version": model_version})
            state = state.with_streak(signal, trained)
    return state


def model_rejected(state: PolicyState, version: int) -> PolicyState:
    """The gate rejected ``version``: the episode whose training produced it is re-opened
    under a new attempt number (its windows keep counting; the gates pace the retry)."""
    for signal in WINDOW_SIGNALS:
        streak = state.streak(signal)
        if streak.handled and streak.trained_version == version:
            state = state.with_streak(signal, _reopened(streak))
    return state


def _reopened(streak: Streak) -> Streak:
    return streak.model_copy(
        update={
            "handled": False,
            "requested_key": None,
            "trained_version": None,
            "attempt": streak.attempt + 1,
        }
    )


def model_promoted(state: PolicyState, version: int) -> PolicyState:
    """A new champion serves: the open episodes of older versions end (their windows judged
    the old model); one of the new version, seen before the promotion, goes on."""
    if state.champion_version is not None and version <= state.champion_version:
        return state  # a replayed or older promotion

    def kept(streak: Streak) -> Streak:
        fresh = streak.model_version is not None and streak.model_version >= version
        return streak if fresh else Streak()

    return state.model_copy(
        update={
            "champion_version": version,
            "drift": kept(state.drift),
            "performance": kept(state.performance),
            "announced": (),
        }
    )
