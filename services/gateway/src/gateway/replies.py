"""Request/reply over Kafka: each request waits on a future keyed by its request id; the
reply consumer resolves it. A reply that comes after its request gave up finds no future
and is dropped (counted), so nothing accumulates."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.metrics import GatewayMetrics
from mlops_contracts import Envelope, PredictionMade, PredictionRequested
from service_kit import ProjectCatalog, Publisher


class DeadlineExceeded(TimeoutError):
    """No answer within the deadline."""


@dataclass
class PendingReplies:
    """Requests in flight, by request id."""

    publisher: Publisher
    reply_topic: str
    metrics: GatewayMetrics
    projects: ProjectCatalog
    """The applied model projects: the models a request may name."""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    waiting: dict[str, asyncio.Future[PredictionMade]] = field(default_factory=dict)

    async def request(
        self,
        customer_id: str,
        features: dict[str, float | int | str | bool] | None,
        deadline: timedelta,
        model_name: str | None = None,
    ) -> PredictionMade:
        """Publish one PredictionRequested (for ``model_name``, or the predictors' default
        model) and wait for its answer (``DeadlineExceeded`` after ``deadline``)."""
        request_id = f"gw-{uuid.uuid4().hex}"
        now = self.clock()
        future: asyncio.Future[PredictionMade] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        try:
            await self.publisher.publish(
                PredictionRequested(
                    request_id=request_id,
                    customer_id=customer_id,
                    features=features,
                    reply_to=self.reply_topic,
                    deadline=now + deadline,
                    requested_at=now,
                    model_name=model_name,
                ),
                correlation_id=request_id,
            )
            return await asyncio.wait_for(future, deadline.total_seconds())
        except TimeoutError as error:
            raise DeadlineExceeded(
                f"no prediction for customer {customer_id!r} within "
                f"{deadline.total_seconds() * 1000:.0f} ms"
            ) from error
        finally:
            self.waiting.pop(request_id, None)

    async def on_replies(self, envelopes: Sequence[Envelope[PredictionMade]]) -> None:
        """A batch of this instance's reply topic: each answer to its waiting request."""
        for envelope in envelopes:
            self.resolve(envelope.data)

    def resolve(self, answer: PredictionMade) -> bool:
        """Hand a reply to its waiting request; False for a late or foreign reply (counted)."""
        future = self.waiting.pop(answer.request_id, None)
        if future is None or future.done():
            self.metrics.late_replies.inc()
            return False
        future.set_result(answer)
        return True
