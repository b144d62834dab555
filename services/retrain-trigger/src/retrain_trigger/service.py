"""The trigger's use cases: judge each signal once against the durable policy state, and
record the decision with its announcement (the outbox, one transaction) under a stable
event id, so a replayed signal, a crash before the publish or a restart never requests a
second training, and no announcement is lost."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from mlops_contracts import (
    DriftDetected,
    Envelope,
    LabelObserved,
    ModelPromoted,
    ModelRejected,
    ModelTrained,
    PerformanceDegraded,
    TrainingFailed,
    TrainingReason,
)
from retrain_trigger.adapters.ledger import SqlTriggerLedger, StoredDecision
from retrain_trigger.domain.policy import (
    Decision,
    ExplicitRequest,
    Judged,
    Outcome,
    PolicyState,
    TriggerPolicy,
    WindowSignal,
    judge_explicit,
    judge_schedule,
    judge_window,
    model_promoted,
    model_rejected,
    schedule_decision_id,
    schedule_slot,
    training_finished,
)
from service_kit.outbox import Outbox
from service_kit.projects import ProjectCatalog

logger = logging.getLogger(__name__)

_ATTEMPTS = 20  # optimistic retries when another decider moved the state meanwhile

Judge = Callable[[PolicyState, int], Judged]


class ContendedState(RuntimeError):
    """The model's state kept changing under this decider (a transient failure: retried)."""


def drift_signal(event: DriftDetected, event_id: str) -> WindowSignal:
    """The window a ``DriftDetected`` reports."""
    drifted = sum(1 for feature in event.features if feature.drifted)
    return WindowSignal(
        signal=TrainingReason.DRIFT,
        model_name=event.model_name,
        model_version=event.model_version,
        window_id=event.window_id,
        window_end=event.window_end,
        event_id=event_id,
        flagged=event.dataset_drift,
        summary=f"drift share {event.drift_share:.2f} vs threshold "
        f"{event.drift_share_threshold:.2f}, {drifted} of {len(event.features)} features "
        f"drifted, {event.sample_count} predictions",
    )


def performance_signal(event: PerformanceDegraded, event_id: str) -> WindowSignal:
    """The window a ``PerformanceDegraded`` reports."""
    return WindowSignal(
        signal=TrainingReason.PERFORMANCE,
        model_name=event.model_name,
        model_version=event.model_version,
        window_id=event.window_id,
        window_end=event.window_end,
        event_id=event_id,
        flagged=event.degraded,
        summary=f"{event.metric} {event.value:.4f} vs threshold {event.threshold:.4f} on "
        f"{event.labelled_count} labelled predictions",
    )


@dataclass
class RetrainTrigger:
    """Turns signals into at most one training at a time."""

    ledger: SqlTriggerLedger
    outbox: Outbox
    policy: TriggerPolicy
    projects: ProjectCatalog
    """The applied model projects: a request for a model none declares is refused."""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # ---------------------------------------------------------------- signals

    async def on_drift(self, envelope: Envelope[DriftDetected]) -> None:
        """A drift window -> the policy."""
        await self.on_window(drift_signal(envelope.data, envelope.id))

    async def on_performance(self, envelope: Envelope[PerformanceDegraded]) -> None:
        """A performance window -> the policy."""
        await self.on_window(performance_signal(envelope.data, envelope.id))

    async def on_window(self, window: WindowSignal) -> StoredDecision | None:
        """Judge a drift or performance window (once, whatever replays it); None (logged)
        for a model no project declares: it is never trained."""
        if not self._declared(window.model_name, window.decision_id):
            return None
        return await self._decide(
            window.decision_id,
            window.model_name,
            lambda state, new_labels: judge_window(
                self.policy, state, window, self.clock(), new_labels=new_labels
            ),
        )

    async def on_explicit(self, request: ExplicitRequest) -> StoredDecision:
        """Judge a manual or scheduler-job request (once per idempotency key; a forced
        retry of a key whose request went out returns that request).
        :class:`~service_kit.UnknownModelError` when no project declares the model."""
        self.projects.project(request.model_name)
        if request.force:
            plain = await self.ledger.decision(replace(request, force=False).decision_id)
            if plain is not None and plain.decision.outcome is Outcome.REQUESTED:
                return await self._announce(plain)
        return await self._decide(
            request.decision_id,
            request.model_name,
            lambda state, _labels: judge_explicit(self.policy, state, request, self.clock()),
        )

    async def on_schedule(self, model_name: str) -> StoredDecision | None:
        """Judge the current schedule slot of ``model_name`` (once per slot); None when the
        schedule is off or no project declares the model."""
        now = self.clock()
        slot = schedule_slot(self.policy, now)
        if slot is None or not self._declared(model_name, "schedule"):
            return None
        return await self._decide(
            schedule_decision_id(model_name, slot),
            model_name,
            lambda state, new_labels: judge_schedule(
                self.policy, state, now, new_labels=new_labels
            ),
        )

    def _declared(self, model_name: str, signal: str) -> bool:
        if model_name in self.projects:
            return True
        logger.warning(
            "a signal about a model no project declares; ignored",
            extra={"model_name": model_name, "signal": signal},
        )
        return False

    # ---------------------------------------------------------------- outcomes

    async def on_training_result(self, envelope: Envelope[ModelTrained | TrainingFailed]) -> None:
        """A training ended (any requester's): clear it if in flight, note its window."""
        event = envelope.data
        if isinstance(event, ModelTrained):
            await self._update(
                event.model_name,
                lambda state: training_finished(
                    state,
                    event.idempotency_key,
                    succeeded=True,
                    window_end=event.dataset.window_end,
                    finished_at=event.trained_at,
                    model_version=event.model_version,
                ),
            )
        else:
            await self._update(
                event.model_name,
                lambda state: training_finished(state, event.idempotency_key, succeeded=False),
            )

    async def on_gate_decision(self, envelope: Envelope[ModelPromoted | ModelRejected]) -> None:
        """A promotion ends every open episode; a rejection re-opens the episode whose
        training produced the rejected version (a retry, paced by the gates)."""
        event = envelope.data
        if isinstance(event, ModelPromoted):
            await self._update(
                event.model_name, lambda state: model_promoted(state, event.model_version)
            )
        else:
            await self._update(
                event.model_name, lambda state: model_rejected(state, event.model_version)
            )

    async def on_labels(self, envelopes: Sequence[Envelope[LabelObserved]]) -> None:
        """Count labels by observation time (the minimum of new labels; deduplicated on
        record id)."""
        await self.ledger.admit_labels([(e.data.record_id, e.data.observed_at) for e in envelopes])

    async def judge_schedules(self, model_names: Sequence[str]) -> None:
        """Judge the current schedule slot of each model (a failure is logged; the next
        tick judges that model again)."""
        for model_name in model_names:
            try:
                await self.on_schedule(model_name)
            except Exception:
                logger.warning(
                    "schedule check failed; next tick retries",
                    exc_info=True,
                    extra={"model_name": model_name},
                )

    async def forget_labels_older_than(self, age: timedelta) -> None:
        """Forget labels observed longer ago than ``age`` (only recent counts matter)."""
        await self.ledger.forget_labels_before(self.clock() - age)

    async def recent(self, limit: int, model_name: str | None = None) -> list[StoredDecision]:
        """The newest decisions, newest first."""
        return await self.ledger.recent(limit, model_name)

    # ---------------------------------------------------------------- internals

    async def _decide(self, decision_id: str, model_name: str, judge: Judge) -> StoredDecision:
        for _ in range(_ATTEMPTS):
            existing = await self.ledger.decision(decision_id)
            if existing is not None:
                logger.info(
                    "signal already decided: no second decision",
                    extra={"decision_id": decision_id, "outcome": existing.decision.outcome},
                )
                return await self._announce(existing)
            current = await self.ledger.state(model_name)
            new_labels = await self.ledger.labels_after(current.state.last_window_end)
            decision, state = judge(current.state, new_labels)
            if await self.ledger.commit(decision, state, current.revision):
                _log(decision)
                stored = await self.ledger.decision(decision_id)
                assert stored is not None
                return await self._announce(stored)
        raise ContendedState(f"the state of {model_name!r} kept changing; {decision_id} retried")

    async def _update(self, model_name: str, change: Callable[[PolicyState], PolicyState]) -> None:
        for _ in range(_ATTEMPTS):
            current = await self.ledger.state(model_name)
            changed = change(current.state)
            if changed == current.state:
                return
            if await self.ledger.save_state(changed, current.revision):
                return
        raise ContendedState(f"the state of {model_name!r} kept changing")

    async def _announce(self, stored: StoredDecision) -> StoredDecision:
        """Publish the decision's announcement (stored in the outbox with it) unless it is
        silent or already acknowledged; ``published`` says whether the broker took it."""
        if not stored.decision.announce or stored.published:
            return stored
        return replace(stored, published=await self.outbox.flush())


def _log(decision: Decision) -> None:
    extra = {
        "decision_id": decision.decision_id,
        "model_name": decision.model_name,
        "signal": decision.signal.value,
        "detail": decision.detail,
    }
    if decision.outcome is Outcome.REQUESTED:
        logger.info(
            "training requested", extra={**extra, "idempotency_key": decision.idempotency_key}
        )
    else:
        logger.info(
            "training suppressed",
            extra={**extra, "reason": decision.reason.value if decision.reason else None},
        )
