"""Kafka entrypoint: a CustomerActivityRecorded event -> the admission use case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from feature.domain.materialization import AdmissionOutcome
from feature.service import record_activity
from mlops_contracts import CustomerActivityRecorded, Envelope
from service_kit import UnprocessableEvent

if TYPE_CHECKING:
    from feature.bootstrap import FeatureComponents


class RecordTooLate(UnprocessableEvent):
    """A record older than the lateness policy allows: dead-lettered, features unchanged."""

    code = "record_too_late"


def activity_handler(
    components: Callable[[], FeatureComponents],
) -> Callable[[Envelope[CustomerActivityRecorded]], Awaitable[None]]:
    """The handler of ``customer.activity``; ``components`` gives the running adapters."""

    async def on_activity(envelope: Envelope[CustomerActivityRecorded]) -> None:
        running = components()
        record = envelope.data
        admission = await record_activity(record, log=running.log)
        running.metrics.records.labels(admission.outcome.value).inc()
        if admission.outcome is AdmissionOutcome.TOO_LATE:
            assert admission.newest_before is not None
            raise RecordTooLate(
                running.log.policy.refusal(
                    record.record_id, record.observed_at, admission.newest_before
                )
            )
        if admission.outcome is AdmissionOutcome.ACCEPTED:
            running.materializer.notify()

    return on_activity
