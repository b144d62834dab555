"""OffsetCommits' bookkeeping, without a broker (its commits against the real one are in
test_kit_flows.py)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from service_kit import offset_commits
from service_kit.offset_commits import OffsetCommits

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


def record(partition: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=partition.topic, partition=partition.partition, offset=offset, timestamp=0,
        timestamp_type=0, key=None, value=b"", checksum=None, serialized_key_size=0,
        serialized_value_size=0, headers=(),
    )  # fmt: skip


class Recorded:
    """A consumer's commits, without a broker: the partitions it holds, the commits it
    sent, and whether the next commit fails or hangs."""

    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail_next = False
        self.hang = False

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise CommitFailedError("the group rebalanced")
        if self.hang:  # the broker is gone: aiokafka retries for ever
            await asyncio.Event().wait()
        self.commits.append(dict(offsets))


def commits_of(broker: Recorded) -> OffsetCommits:
    return OffsetCommits(broker, interval_ms=60_000)


async def test_commits_one_past_the_newest_processed_record_of_each_partition() -> None:
    broker = Recorded({A, B})
    consumer = commits_of(broker)
    consumer.processed([record(A, 4), record(B, 0), record(A, 2)])
    consumer.processed([record(A, 5)])
    await consumer.commit_due(now=True)
    assert broker.commits == [{A: 6, B: 1}]


async def test_commits_at_most_once_per_interval_unless_told_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_monotonic = time.monotonic
    broker = Recorded({A})
    consumer = commits_of(broker)
    consumer.processed([record(A, 0)])
    await consumer.commit_due()  # within the interval (60 s here): held
    assert broker.commits == []
    await consumer.commit_due(now=True)
    consumer.processed([record(A, 1)])
    await consumer.commit_due()  # the interval starts again
    assert broker.commits == [{A: 1}]
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + 60)
    await consumer.commit_due()  # due
    assert broker.commits == [{A: 1}, {A: 2}]
    await consumer.commit_due(now=True)  # nothing new: no request
    assert len(broker.commits) == 2


async def test_a_failed_commit_is_retried_with_the_next_and_a_lost_partition_dropped() -> None:
    broker = Recorded({A, B})
    consumer = commits_of(broker)
    consumer.processed([record(A, 3), record(B, 7)])
    broker.fail_next = True
    await consumer.commit_due(now=True)  # logged, not raised
    assert broker.commits == []
    broker.assigned = {A}  # the rebalance gave B to another member: it redelivers B
    consumer.processed([record(A, 1)])  # an older record (after a seek back) moves nothing
    await consumer.commit_due(now=True)
    assert broker.commits == [{A: 4}]


async def test_processed_offsets_are_committed_before_a_rebalance_revokes_them() -> None:
    broker = Recorded({A})
    consumer = commits_of(broker)
    consumer.processed([record(A, 0)])
    await consumer.commit_due(now=True)
    consumer.processed([record(A, 1)])  # within the interval: not committed yet
    listener = consumer.listener()
    await listener.on_partitions_revoked({A})
    assert broker.commits == [{A: 1}, {A: 2}]
    await listener.on_partitions_assigned({A})
    assert broker.commits == [{A: 1}, {A: 2}]


async def test_commit_now_commits_what_was_processed_first() -> None:
    broker = Recorded({A})
    consumer = commits_of(broker)
    consumer.processed([record(A, 0)])
    await consumer.commit_due(now=True)
    consumer.processed([record(A, 9)])
    await consumer.commit_now()
    assert broker.commits == [{A: 1}, {A: 10}]


async def test_a_cancelled_commit_keeps_its_offsets_for_the_next() -> None:
    broker = Recorded({A})
    consumer = commits_of(broker)
    consumer.processed([record(A, 2)])
    broker.hang = True
    commit = asyncio.create_task(consumer.commit_due(now=True))
    await asyncio.sleep(0.01)
    commit.cancel()  # a stop cancels the poll loop in the middle of its commit
    with pytest.raises(asyncio.CancelledError):
        await commit
    broker.hang = False
    await consumer.commit_due(now=True)
    assert broker.commits == [{A: 3}]


async def test_commit_now_gives_up_a_commit_the_broker_never_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(offset_commits, "LAST_COMMIT_TIMEOUT_S", 0.05)
    broker = Recorded({A})
    consumer = commits_of(broker)
    consumer.processed([record(A, 0)])
    broker.hang = True
    await asyncio.wait_for(consumer.commit_now(), 5)
    assert broker.commits == []


async def test_a_commit_now_waits_for_the_one_in_flight() -> None:
    released = asyncio.Event()

    class Slow(Recorded):
        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            await released.wait()
            await super().commit(offsets)

    broker = Slow({A})
    consumer = commits_of(broker)
    consumer.processed([record(A, 0)])
    in_flight = asyncio.create_task(consumer.commit_due(now=True))
    await asyncio.sleep(0.01)
    revoke = asyncio.create_task(consumer.commit_now())  # nothing new pending
    await asyncio.sleep(0.01)
    assert not revoke.done()  # a rebalance must not go on before the commit in flight ends
    released.set()
    await asyncio.gather(in_flight, revoke)
    assert broker.commits == [{A: 1}]
