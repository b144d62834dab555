"""The offsets a consumer has processed, committed together at most once per interval.

Committing after every batch costs the broker a request per batch: on the embedded broker
an OffsetCommit costs about as much broker CPU as a Produce (250 against 213 us,
``integration/benchmarks/bench_broker_requests.py``), and the REST request path paid one
at the gateway's replies and one at the predictor for every few requests, each awaited
before the next poll. :class:`OffsetCommits` remembers the processed offsets and commits
them together, when the interval has passed (after the next batch or at the next poll of
an idle consumer), before the consumer's partitions are revoked, and when it stops. Never
a record that was not processed: the committed offset of a partition is one past its
newest processed record, so a crash redelivers what was processed since the last commit
and skips nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any, Protocol

from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

logger = logging.getLogger(__name__)

COMMIT_INTERVAL_MS = 100
"""Least time between two commits of a running batch consumer. A processed record's offset
goes with the first commit after that: at the end of the next batch, or at the next poll
of an idle consumer (its ``max_wait_ms``, and its linger)."""

LAST_COMMIT_TIMEOUT_S = 5.0
"""Longest the commits at a revoke and at stop may take: with the broker gone, aiokafka
retries a commit for ever, and a stop must not hang (the records come again instead)."""


class Committer(Protocol):
    """What is needed of a consumer (``AIOKafkaConsumer`` has it)."""

    def assignment(self) -> set[TopicPartition]: ...
    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


class OffsetCommits:
    """The processed offsets of one consumer (``enable_auto_commit=False``), reported with
    :meth:`processed` and committed by :meth:`commit_due` when due."""

    def __init__(self, consumer: Committer, *, interval_ms: int = COMMIT_INTERVAL_MS) -> None:
        self._consumer = consumer
        self._interval_s = interval_ms / 1000
        self._pending: dict[TopicPartition, int] = {}
        self._due = time.monotonic() + self._interval_s
        """When the next commit may go (monotonic s)."""
        self._committing = asyncio.Lock()
        """One commit at a time: a commit ``now`` (a revoke, the stop) waits for the one in
        flight, then commits what is left."""
        self._failures = 0

    def processed(self, records: Iterable[ConsumerRecord[Any, Any]]) -> None:
        """Mark ``records`` processed: their offsets are committed with the next commit."""
        self._keep(
            (TopicPartition(record.topic, record.partition), record.offset + 1)
            for record in records
        )

    async def commit_due(self, *, now: bool = False) -> None:
        """Commit the processed offsets if the interval since the last commit has passed
        (``now``: whatever the interval). A failed or cancelled commit keeps them for the
        next one; a partition no longer assigned is left to its new owner, which gets its
        records again (at least once)."""
        if not (now or time.monotonic() >= self._due):
            return
        if not self._pending and not self._committing.locked():
            return
        async with self._committing:
            if not self._pending:
                return
            offsets, self._pending = self._pending, {}
            self._due = time.monotonic() + self._interval_s
            assigned = self._consumer.assignment()
            offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
            if not offsets:
                return
            try:
                await self._consumer.commit(offsets)
            except BaseException as error:
                self._keep(offsets.items())
                if not isinstance(error, KafkaError):
                    raise  # cancelled (a stop): the final commit takes them
                self._failures += 1
                if self._failures == 1 or self._failures % 100 == 0:
                    logger.error(
                        "offset commit failed; retrying with the next one",
                        extra={"error": repr(error), "failures_in_a_row": self._failures},
                    )
            else:
                self._failures = 0

    async def commit_now(self) -> None:
        """Commit what was processed, whatever the interval, giving up after
        ``LAST_COMMIT_TIMEOUT_S`` (the records not committed come again)."""
        try:
            async with asyncio.timeout(LAST_COMMIT_TIMEOUT_S):
                await self.commit_due(now=True)
        except TimeoutError:
            logger.error(
                "offset commit timed out; the records since the last commit come again",
                extra={"partitions": len(self._pending)},
            )

    def listener(self) -> ConsumerRebalanceListener:
        """A rebalance listener that commits before partitions are taken away (aiokafka
        awaits it before it rejoins)."""
        return _CommitBeforeRevoke(self)

    def _keep(self, offsets: Iterable[tuple[TopicPartition, int]]) -> None:
        """Merge into the pending offsets: each partition keeps its highest."""
        pending = self._pending
        for partition, offset in offsets:
            pending[partition] = max(pending.get(partition, 0), offset)


class _CommitBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, commits: OffsetCommits) -> None:
        self._commits = commits

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._commits.commit_now()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        pass
