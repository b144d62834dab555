"""Per-record costs every service pays: where a keyed record goes, the collector, and the
batch consumer's poll loop."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiokafka.partitioner import DefaultPartitioner
from pydantic_settings import SettingsConfigDict

from mlops_contracts import Envelope, LabelObserved, topic_for
from service_kit import ServiceRuntime, ServiceSettings
from service_kit.kafka import key_partitioner
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


class HotPathSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOT_PATH_", extra="forbid", frozen=True)
    service_name: str = "hot-path"


class PollingConsumer:
    """What the subscriber's poll loop asks of an aiokafka consumer."""

    def __init__(self, batches: dict[str, list[object]]) -> None:
        self.batches = batches
        self.polls: list[tuple[int, int]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[object]]:
        self.polls.append((timeout_ms, max_records))
        return self.batches


async def test_a_batch_consumer_polls_again_at_once_after_an_empty_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastStream's batch subscriber sleeps its batch timeout after an empty poll: a record
    arriving then would wait that long on top of the broker's fetch wait."""
    runtime = ServiceRuntime(HotPathSettings(data_dir=tmp_path, instance_id="t"))
    topic = topic_for(LabelObserved)

    async def handle(_: Sequence[Envelope[Any]]) -> None:
        pass

    runtime.consume_batches(topic, handle, max_batch=64, max_wait_ms=40)
    [subscriber] = [s for s in runtime.broker.subscribers if s.topics[0].name == topic.name]
    sleeps: list[float] = []

    async def recording_sleep(delay: float, *_: Any, **__: Any) -> None:
        sleeps.append(delay)

    monkeypatch.setattr(anyio, "sleep", recording_sleep)
    monkeypatch.setattr(asyncio, "sleep", recording_sleep)

    idle = PollingConsumer({})
    assert await subscriber.get_msg(idle) == ()
    assert idle.polls == [(40, 64)]  # getmany itself waits up to 40 ms for a first record
    assert sleeps == []

    first, second, third = object(), object(), object()
    busy = PollingConsumer({"labels-0": [first, second], "labels-1": [third]})
    assert await subscriber.get_msg(busy) == (first, second, third)


async def test_a_lingering_batch_consumer_polls_no_sooner_than_its_linger_after_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer nobody waits on (the monitor's predictions) lingers after each batch, so
    a steady stream comes in fewer, larger batches; an empty poll still goes again at once."""
    runtime = ServiceRuntime(HotPathSettings(data_dir=tmp_path, instance_id="t"))
    topic = topic_for(LabelObserved)

    async def handle(_: Sequence[Envelope[Any]]) -> None:
        pass

    runtime.consume_batches(topic, handle, max_batch=64, max_wait_ms=40, linger_ms=200)
    [subscriber] = [s for s in runtime.broker.subscribers if s.topics[0].name == topic.name]
    clock = [1000.0]
    sleeps: list[float] = []

    async def recording_sleep(delay: float, *_: Any, **__: Any) -> None:
        sleeps.append(round(delay, 6))
        clock[0] += delay

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])

    record = object()
    assert await subscriber.get_msg(PollingConsumer({"labels-0": [record]})) == (record,)
    assert sleeps == []  # the first poll goes at once
    clock[0] += 0.05  # the batch took 50 ms to handle
    assert await subscriber.get_msg(PollingConsumer({})) == ()
    assert sleeps == [0.15]  # the rest of the 200 ms since the batch arrived
    assert await subscriber.get_msg(PollingConsumer({})) == ()
    assert sleeps == [0.15]  # nothing came: no more lingering


def test_a_batch_consumer_refuses_a_poll_that_would_never_yield(tmp_path: Path) -> None:
    runtime = ServiceRuntime(HotPathSettings(data_dir=tmp_path, instance_id="t"))

    async def handle(_: Sequence[Envelope[Any]]) -> None:
        pass

    with pytest.raises(ValueError, match="max_wait_ms must be at least 1, got 0"):
        runtime.consume_batches(topic_for(LabelObserved), handle, max_wait_ms=0)
