"""Kafka entrypoints: decode nothing themselves (service_kit does), hand the events to the
engine. Nothing else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from mlops_contracts import Envelope, LabelObserved, ModelPromoted, PredictionMade

if TYPE_CHECKING:
    from monitor.bootstrap import MonitorComponents


def predictions_handler(
    components: Callable[[], MonitorComponents],
) -> Callable[[Sequence[Envelope[Any]]], Awaitable[None]]:
    """A batch of PredictionMade -> windows (and the drift checks of the windows it closes)."""

    async def on_predictions(envelopes: Sequence[Envelope[Any]]) -> None:
        batch = [e.data for e in envelopes if isinstance(e.data, PredictionMade)]
        await components().engine.on_predictions(batch)

    return on_predictions


def labels_handler(
    components: Callable[[], MonitorComponents],
) -> Callable[[Sequence[Envelope[Any]]], Awaitable[None]]:
    """A batch of LabelObserved -> the join and the performance judgements."""

    async def on_labels(envelopes: Sequence[Envelope[Any]]) -> None:
        batch = [e.data for e in envelopes if isinstance(e.data, LabelObserved)]
        await components().engine.on_labels(batch)

    return on_labels


def decisions_handler(
    components: Callable[[], MonitorComponents],
) -> Callable[[Envelope[Any]], Awaitable[None]]:
    """A promotion switches the drift reference; a rejection changes nothing."""

    async def on_decision(envelope: Envelope[Any]) -> None:
        if isinstance(envelope.data, ModelPromoted):
            await components().engine.on_promoted(envelope.data)

    return on_decision
