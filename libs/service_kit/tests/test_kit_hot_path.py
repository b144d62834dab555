"""Per-record costs every service pays: where a keyed record goes, and the collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from aiokafka.partitioner import DefaultPartitioner

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
