"""Kafka entrypoints: a micro-batch of prediction requests -> the scorer; a model
decision (broadcast) -> the swapper."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from mlops_contracts import Envelope, ModelPromoted, ModelRejected

if TYPE_CHECKING:
    from predictor.bootstrap import PredictorComponents


def requests_handler(
    components: Callable[[], PredictorComponents],
) -> Callable[[Sequence[Envelope[Any]]], Awaitable[None]]:
    """Answer a micro-batch: every request gets a PredictionMade, ok or error (an invalid
    one too, when it says whom to answer: see predictor.decoding)."""

    async def on_requests(envelopes: Sequence[Envelope[Any]]) -> None:
        await components().predictor.serve(envelopes)

    return on_requests


def decisions_handler(
    components: Callable[[], PredictorComponents],
) -> Callable[[Envelope[ModelPromoted | ModelRejected]], Awaitable[None]]:
    """A promotion swaps the model; a rejection changes nothing."""

    async def on_decision(envelope: Envelope[ModelPromoted | ModelRejected]) -> None:
        if isinstance(envelope.data, ModelPromoted):
            await components().swapper.on_promoted(envelope.data)

    return on_decision
