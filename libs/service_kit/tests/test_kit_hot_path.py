"""Per-record costs every service pays: where a keyed record goes, the collector, and the
poll loop of every subscription."""

from __future__ import annotations

import asyncio
import gc
import inspect
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from mlops_contracts import LabelObserved, topic_for
from service_kit import Outcome, PollOptions, RetryPolicy
from service_kit.kafka import _PollLoop, key_partitioner
from service_kit.serving import YOUNG_GENERATION_THRESHOLD, _spare_the_startup_heap


@pytest.mark.parametrize("partitions", [1, 3, 12])
def test_a_keyed_record_goes_where_the_java_client_would_put_it(partitions: int) -> None:
    everyone = list(range(partitions))
    keys = [f"C-{n:06d}".encode() for n in range(3000)] + ["kundé-ñ".encode(), b"", b"\xff"]
    for _ in range(2):  # the second pass is served from the remembered hashes
        for key in keys:
            expected = DefaultPartitioner()(key, everyone, everyone)
            assert key_partitioner(key, everyone, everyone) == expected
    odd = bytearray(b"C-000001")  # not hashable: not remembered, placed all the same
    assert key_partitioner(odd, everyone, everyone) == DefaultPartitioner()(odd, everyone, everyone)


def test_an_unkeyed_record_goes_to_an_available_partition() -> None:
    chosen = {key_partitioner(None, [0, 1, 2, 3], [1, 3]) for _ in range(200)}
    assert chosen == {1, 3}


@pytest.fixture
def collector_restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector_restored")
def test_a_served_process_spares_its_startup_heap_from_later_collections() -> None:
    startup_objects = [[n] for n in range(1000)]  # as imports and the app leave behind
    _, middle_before, oldest_before = gc.get_threshold()
    _spare_the_startup_heap()
    assert gc.get_freeze_count() >= len(startup_objects)
    young, middle, oldest = gc.get_threshold()
    assert young == YOUNG_GENERATION_THRESHOLD
    assert (middle, oldest) == (middle_before, oldest_before)


class ScriptedConsumer:
    """What the poll loop asks of an aiokafka consumer: each poll returns the next batch of
    the script (by partition); once the script is done, the loop is told to stop."""

    def __init__(self, script: list[dict[TopicPartition, list[Any]]], loop: Any = None) -> None:
        self.script = script
        self.loop = loop
        self.polls: list[tuple[int, int]] = []
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []

    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Any]]:
        self.polls.append((timeout_ms, max_records))
        if not self.script:
            self.loop._stopping = True
            return {}
        return self.script.pop(0)

    def assignment(self) -> set[TopicPartition]:
        return {A, B}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))


A, B = TopicPartition("customer.labels", 0), TopicPartition("customer.labels", 1)


def labels(partition: TopicPartition, *offsets: int) -> list[Any]:
    return [
        ConsumerRecord(
            topic=partition.topic,
            partition=partition.partition,
            offset=offset,
            timestamp=0,
            timestamp_type=0,
            key=b"C-1",
            value=b"{}",
            checksum=None,
            serialized_key_size=3,
            serialized_value_size=2,
            headers=(),
        )
        for offset in offsets
    ]


class Outcomes:
    """An EventConsumer stand-in: every record to the outcome its offset is scripted to."""

    def __init__(self, retry_at: set[tuple[int, int]] = frozenset()) -> None:  # type: ignore[assignment]
        self.retry_at = retry_at
        self.batches: list[list[int]] = []
        self.name = "g:customer.labels"
        self.group_id = "g"
        self.topic = topic_for(LabelObserved)
        self.retry = RetryPolicy(attempts=1, first_delay_s=0, max_delay_s=0)

    async def process_batch(self, records: list[Any]) -> list[Outcome]:
        self.batches.append([r.offset for r in records])
        return [
            Outcome.RETRY_LATER if (r.partition, r.offset) in self.retry_at else Outcome.HANDLED
            for r in records
        ]


def poll_loop(
    script: list[Any], outcomes: Outcomes, **options: Any
) -> tuple[Any, ScriptedConsumer]:
    kafka = ScriptedConsumer(script)
    loop = _PollLoop(
        kafka,  # type: ignore[arg-type]
        outcomes,  # type: ignore[arg-type]
        PollOptions(**options),
    )
    kafka.loop = loop
    return loop, kafka


async def test_a_batch_consumer_polls_again_at_once_after_an_empty_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """getmany itself waits up to max_wait_ms for a first record and returns as soon as any
    has arrived: no pause of its own after an empty poll, which a record arriving then
    would wait through on top of the broker's fetch wait."""
    sleeps: list[float] = []

    async def recording_sleep(delay: float, *_: Any, **__: Any) -> None:
        sleeps.append(delay)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    outcomes = Outcomes()
    loop, kafka = poll_loop([{}, {}, {A: labels(A, 0, 1), B: labels(B, 5)}], outcomes,
                            max_batch=64, max_wait_ms=40)  # fmt: skip
    await loop._run()
    assert kafka.polls == [(40, 64)] * 4
    assert sleeps == []
    assert outcomes.batches == [[0, 1, 5]]


async def test_a_lingering_batch_consumer_polls_no_sooner_than_its_linger_after_a_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A consumer nobody waits on (the monitor's predictions) lingers after each batch, so
    a steady stream comes in fewer, larger batches; an empty poll still goes again at once."""
    clock = [1000.0]
    sleeps: list[float] = []

    async def recording_sleep(delay: float, *_: Any, **__: Any) -> None:
        sleeps.append(round(delay, 6))
        clock[0] += delay

    class Slow(Outcomes):
        async def process_batch(self, records: list[Any]) -> list[Outcome]:
            clock[0] += 0.05  # the batch takes 50 ms to handle
            return await super().process_batch(records)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    loop, _ = poll_loop([{A: labels(A, 0)}, {}, {}], Slow(), max_batch=64, linger_ms=200)
    await loop._run()
    assert sleeps == [0.15]  # the rest of the 200 ms since the batch arrived, then no more


async def test_records_to_retry_are_read_again_and_those_before_them_committed() -> None:
    outcomes = Outcomes(retry_at={(0, 2)})
    loop, kafka = poll_loop([{A: labels(A, 0, 1, 2, 3), B: labels(B, 7)}], outcomes, max_batch=8)
    await loop._run()
    assert kafka.seeks == [(A, 2)]  # 2 and 3 of A come again
    await loop._commits.commit_now()
    assert kafka.commits == [{A: 2, B: 8}]


async def test_one_record_at_a_time_is_committed_as_soon_as_handled() -> None:
    loop, kafka = poll_loop([{A: labels(A, 0)}, {A: labels(A, 1)}], Outcomes(), max_batch=1)
    await loop._run()
    assert kafka.commits == [{A: 1}, {A: 2}]


def test_a_poll_that_would_never_yield_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PollOptions(max_wait_ms=0)


def test_every_dependency_the_kit_gives_routes_runs_on_the_event_loop() -> None:
    """FastAPI runs a plain-function dependency in a worker thread: a thread hop per
    request (the gateway's and ingest's hot paths take three of them)."""
    from service_kit import running, service_settings
    from service_kit.http import require_token
    from service_kit.service_app import get_runtime

    for dependency in (running, service_settings, require_token, get_runtime):
        assert inspect.iscoroutinefunction(dependency), dependency.__name__
