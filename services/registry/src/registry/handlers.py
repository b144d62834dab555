"""Kafka entrypoints: a training outcome -> the promotion gate."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from mlops_contracts import Envelope, ModelTrained, TrainingFailed

if TYPE_CHECKING:
    from registry.bootstrap import RegistryComponents

logger = logging.getLogger(__name__)


def training_result_handler(
    components: Callable[[], RegistryComponents],
) -> Callable[[Envelope[ModelTrained | TrainingFailed]], Awaitable[None]]:
    """``ModelTrained`` goes through the gate; ``TrainingFailed`` changes nothing here."""

    async def on_result(envelope: Envelope[ModelTrained | TrainingFailed]) -> None:
        event = envelope.data
        if isinstance(event, TrainingFailed):
            logger.info(
                "training failed upstream; the registry is unchanged",
                extra={"idempotency_key": event.idempotency_key, "reason": event.reason},
            )
            return
        await components().gate.on_trained(
            event, correlation_id=envelope.correlation_id or envelope.id
        )

    return on_result
