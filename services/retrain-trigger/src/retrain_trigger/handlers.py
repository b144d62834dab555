"""Kafka entrypoints: decode nothing themselves (the consumer did), translate each event into
a use case call of the trigger. Nothing else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from mlops_contracts import (
    DriftDetected,
    Envelope,
    LabelObserved,
    ModelPromoted,
    ModelRejected,
    ModelTrained,
    PerformanceDegraded,
    TrainingFailed,
)
from retrain_trigger.service import drift_signal, performance_signal

if TYPE_CHECKING:
    from retrain_trigger.service import RetrainTrigger

Trigger = Callable[[], "RetrainTrigger"]


def drift_handler(trigger: Trigger) -> Callable[[Envelope[DriftDetected]], Awaitable[None]]:
    """A drift window -> the policy."""

    async def on_drift(envelope: Envelope[DriftDetected]) -> None:
        await trigger().on_window(drift_signal(envelope.data, envelope.id))

    return on_drift


def performance_handler(
    trigger: Trigger,
) -> Callable[[Envelope[PerformanceDegraded]], Awaitable[None]]:
    """A performance window -> the policy."""

    async def on_performance(envelope: Envelope[PerformanceDegraded]) -> None:
        await trigger().on_window(performance_signal(envelope.data, envelope.id))

    return on_performance


def training_result_handler(
    trigger: Trigger,
) -> Callable[[Envelope[ModelTrained | TrainingFailed]], Awaitable[None]]:
    """A training outcome clears the training in flight."""

    async def on_result(envelope: Envelope[ModelTrained | TrainingFailed]) -> None:
        await trigger().on_training_result(envelope.data)

    return on_result


def gate_decision_handler(
    trigger: Trigger,
) -> Callable[[Envelope[ModelPromoted | ModelRejected]], Awaitable[None]]:
    """A promotion ends the open episodes."""

    async def on_decision(envelope: Envelope[ModelPromoted | ModelRejected]) -> None:
        await trigger().on_gate_decision(envelope.data)

    return on_decision


def labels_handler(
    trigger: Trigger,
) -> Callable[[Sequence[Envelope[LabelObserved]]], Awaitable[None]]:
    """A batch of labels -> the count of new labels (deduplicated on record id)."""

    async def on_labels(envelopes: Sequence[Envelope[LabelObserved]]) -> None:
        await trigger().on_labels([envelope.data for envelope in envelopes])

    return on_labels
