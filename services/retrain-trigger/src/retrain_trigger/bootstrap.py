"""The one place the trigger's concrete adapters are built, inside the lifespan; and the
background work: the outbox's first drain, the schedule, the pruning of old labels."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from retrain_trigger.adapters.ledger import SqlTriggerLedger
from retrain_trigger.service import RetrainTrigger
from retrain_trigger.settings import RetrainTriggerSettings
from service_kit import DependencyNotReady, ServiceRuntime

logger = logging.getLogger(__name__)

_PRUNE_EVERY_S = 6 * 3600


async def build_trigger(
    settings: RetrainTriggerSettings, runtime: ServiceRuntime
) -> RetrainTrigger:
    """Open the ledger (creating its tables) and build the use cases."""
    ledger = SqlTriggerLedger(runtime.engine)
    await ledger.create_schema()
    return RetrainTrigger(ledger=ledger, publisher=runtime.publisher, policy=settings.policy())


class TriggerPlane:
    """Holds the running trigger between the lifespan's start and stop hooks."""

    def __init__(self, settings: RetrainTriggerSettings) -> None:
        self.settings = settings
        self.trigger: RetrainTrigger | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def require(self) -> RetrainTrigger:
        """The running trigger; raises while the service is not started."""
        if self.trigger is None:
            raise DependencyNotReady("the retrain trigger is not started yet")
        return self.trigger

    async def start(self, runtime: ServiceRuntime) -> None:
        """on_start hook: build the trigger, republish what a previous process recorded but
        could not publish, then start the schedule and the label pruning."""
        trigger = await build_trigger(self.settings, runtime)
        republished = await trigger.publish_pending()
        if republished:
            logger.info("republished recorded decisions", extra={"decisions": republished})
        self.trigger = trigger
        if self.settings.schedule_interval_minutes is not None:
            self._tasks.append(asyncio.create_task(self._schedule(trigger), name="schedule"))
        self._tasks.append(asyncio.create_task(self._prune(trigger), name="prune-labels"))

    async def stop(self, _runtime: ServiceRuntime) -> None:
        """on_stop hook: stop the background tasks."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _schedule(self, trigger: RetrainTrigger) -> None:
        interval_s = (self.settings.schedule_interval_minutes or 0) * 60
        # Often enough to judge each slot early in it; a judged slot is not judged again.
        tick_s = max(1.0, min(60.0, interval_s / 4))
        while True:
            for model_name in self.settings.scheduled_models:
                try:
                    await trigger.on_schedule(model_name)
                except Exception:
                    logger.warning("schedule check failed; next tick retries", exc_info=True)
            await asyncio.sleep(tick_s)

    async def _prune(self, trigger: RetrainTrigger) -> None:
        age = timedelta(days=self.settings.label_retention_days)
        while True:
            try:
                await trigger.ledger.forget_labels_before(trigger.clock() - age)
            except Exception:
                logger.warning("pruning old labels failed", exc_info=True)
            await asyncio.sleep(_PRUNE_EVERY_S)
