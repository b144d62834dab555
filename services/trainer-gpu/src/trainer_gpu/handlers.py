"""Kafka entrypoints: a training request -> the trainer's queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from mlops_contracts import Envelope, TrainingRequested

if TYPE_CHECKING:
    from trainer_gpu.bootstrap import TrainerComponents


def request_handler(
    components: Callable[[], TrainerComponents],
) -> Callable[[Envelope[TrainingRequested]], Awaitable[None]]:
    """Accept a ``TrainingRequested`` into the durable queue (the run happens in the
    background; a replayed idempotency key is acknowledged and ignored)."""

    async def on_request(envelope: Envelope[TrainingRequested]) -> None:
        await components().trainer.accept(
            envelope.data, event_id=envelope.id, correlation_id=envelope.correlation_id
        )

    return on_request
