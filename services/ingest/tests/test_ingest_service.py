"""The use case with fakes: valid records published, invalid ones explained, resends
publish nothing."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ingest.service import IngestRecords, event_id_for

from mlops_contracts import Event
from service_kit import ProjectCatalog

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class FakeSink:
    def __init__(self) -> None:
        self.sent: list[tuple[str | None, Event]] = []

    async def publish(self, event: Event, *, event_id: str | None = None) -> str:
        self.sent.append((event_id, event))
        return event_id or ""


class FakeLedger:
    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def known(self, record_ids: Collection[str]) -> set[str]:
        return self.ids & set(record_ids)

    async def remember(self, record_ids: Collection[str]) -> None:
        self.ids |= set(record_ids)


def make() -> tuple[IngestRecords, FakeSink, FakeLedger]:
    sink, ledger = FakeSink(), FakeLedger()
    ingest = IngestRecords(
        sink=sink,
        ledger=ledger,
        clock=lambda: NOW,
        max_clock_skew=timedelta(minutes=5),
        projects=ProjectCatalog(),
    )
    return ingest, sink, ledger


async def test_mixed_batch_accepts_the_valid_records_and_explains_the_rest(activity: Any) -> None:
    ingest, sink, _ = make()
    outcome = await ingest(
        [activity(record_id="a"), activity(record_id="b", plan="gold"), activity(record_id="c")]
    )
    assert [r.status for r in outcome.results] == ["accepted", "rejected", "accepted"]
    assert outcome.results[1].errors[0].field == "plan"
    assert [event_id for event_id, _ in sink.sent] == [event_id_for("a"), event_id_for("c")]


async def test_resent_batch_publishes_nothing(activity: Any) -> None:
    ingest, sink, _ = make()
    batch = [activity(record_id="a"), activity(record_id="b")]
    await ingest(batch)
    again = await ingest(batch)
    assert [r.status for r in again.results] == ["duplicate", "duplicate"]
    assert len(sink.sent) == 2


async def test_duplicate_inside_one_batch_is_published_once(activity: Any) -> None:
    ingest, sink, _ = make()
    outcome = await ingest([activity(record_id="a"), activity(record_id="a")])
    assert [r.status for r in outcome.results] == ["accepted", "duplicate"]
    assert len(sink.sent) == 1


async def test_failed_publish_remembers_nothing_so_a_retry_resends(activity: Any) -> None:
    class DownSink(FakeSink):
        async def publish(self, event: Event, *, event_id: str | None = None) -> str:
            raise ConnectionError("broker unreachable")

    ledger = FakeLedger()
    ingest = IngestRecords(
        sink=DownSink(),
        ledger=ledger,
        clock=lambda: NOW,
        max_clock_skew=timedelta(minutes=5),
        projects=ProjectCatalog(),
    )
    with pytest.raises(ConnectionError):  # the client sees the failure and retries
        await ingest([activity(record_id="a", observed_at=NOW.isoformat())])
    assert ledger.ids == set()
