"""Kafka entrypoint: a CustomerActivityRecorded event -> the admission use case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from feature.domain.materialization import AdmissionOutcome
from feature.service import record_activities
from mlops_contracts import CustomerActivityRecorded, Envelope
from service_kit import UnprocessableEvent, UnprocessableEvents

if TYPE_CHECKING:
    from feature.bootstrap import FeatureComponents


class RecordTooLate(UnprocessableEvent):
    """A record older than the lateness policy allows: dead-lettered, features unchanged."""

    code = "record_too_late"


def activity_handler(
    components: Callable[[], FeatureComponents],
) -> Callable[[Sequence[Envelope[CustomerActivityRecorded]]], Awaitable[None]]:
    """The batch handler of ``customer.activity``; ``components`` gives the running
    adapters. The activity log deduplicates on record id inside its own transaction, so
    the consumer needs no separate processed-ids check.

    Too-late records are refused by position (UnprocessableEvents): service_kit
    dead-letters exactly those; the rest of the batch counts as handled."""

    async def on_activity(envelopes: Sequence[Envelope[CustomerActivityRecorded]]) -> None:
        running = components()
        events = [envelope.data for envelope in envelopes]
        admissions = await record_activities(events, log=running.log)
        for admission in admissions:
            running.metrics.records.labels(admission.outcome.value).inc()
        if any(a.outcome is AdmissionOutcome.ACCEPTED for a in admissions):
            running.materializer.notify()
        too_late: dict[int, BaseException] = {}
        for position, (event, admission) in enumerate(zip(events, admissions, strict=True)):
            if admission.outcome is AdmissionOutcome.TOO_LATE:
                assert admission.newest_before is not None
                too_late[position] = RecordTooLate(
                    running.log.policy.refusal(
                        event.record_id, event.observed_at, admission.newest_before
                    )
                )
        if too_late:
            raise UnprocessableEvents(too_late)

    return on_activity
