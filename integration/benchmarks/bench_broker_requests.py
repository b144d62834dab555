"""What one Kafka request costs the embedded broker (Tansu, in-memory storage) in CPU: a
one-record produce, an offset commit, a fetch that finds two records, and a fetch that
finds none and waits out its fetch wait (every idle consumer sends one per wait), at
several waits. Requests are counted at the client; the broker's CPU is read from /proc.

    .venv/bin/python integration/benchmarks/bench_broker_requests.py

Run it on an otherwise idle machine; it starts and stops its own broker.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from bench_broker_batches import own_broker
from bench_serving import CLIENT, ECHO_REQUESTS, table
from process_cpu import cpu_seconds

from service_kit import ensure_topics

TOPIC = dataclasses.replace(
    ECHO_REQUESTS, name="bench.requests", partitions=4, description="requests measured"
)
EMPTY = dataclasses.replace(TOPIC, name="bench.requests.empty", description="never written")
RECORD = b"x" * 400


def counting(consumer: AIOKafkaConsumer, counts: Counter[str]) -> None:
    """Count the requests ``consumer`` sends, by kind (FetchRequest, OffsetCommitRequest...)."""
    client = consumer._client
    send = client.send

    async def counted(node_id: int, request: Any, **options: Any) -> Any:
        counts[type(request).__name__.split("_")[0]] += 1
        return await send(node_id, request, **options)

    client.send = counted


async def broker_cost(pid: int, work: Callable[[], Awaitable[int]]) -> tuple[int, float]:
    """(requests ``work`` says it sent, broker CPU us per request)."""
    before = cpu_seconds(pid)
    requests = await work()
    return requests, (cpu_seconds(pid) - before) / max(requests, 1) * 1e6


async def measure(pid: int, bootstrap: str, repeat: int, seconds: float) -> list[list[str]]:
    rows: list[list[str]] = []

    def row(what: str, requests: int, us: float) -> None:
        rows.append([what, f"{requests:,}", f"{us:,.0f}"])
        print("  " + " | ".join(rows[-1]), flush=True)

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:

        async def produce() -> int:
            for n in range(repeat):
                await producer.send_and_wait(TOPIC.name, RECORD, partition=n % 4)
            return repeat

        row("produce, 1 record", *await broker_cost(pid, produce))

        counts: Counter[str] = Counter()
        reader = AIOKafkaConsumer(
            TOPIC.name, bootstrap_servers=bootstrap, group_id="bench-requests",
            auto_offset_reset="earliest", enable_auto_commit=False, **CLIENT,
        )  # fmt: skip
        await reader.start()
        try:
            await reader.getmany(timeout_ms=2000)  # joined: partition 0 is assigned
            partition = TopicPartition(TOPIC.name, 0)
            counting(reader, counts)

            async def fetch_records() -> int:
                near_the_end = repeat // 4 - 2  # produce() put every fourth record there
                for _ in range(repeat // 10):  # a seek drops what was fetched: fetch again
                    reader.seek(partition, near_the_end)
                    while not await reader.getmany(partition, timeout_ms=2000, max_records=1):
                        pass
                return counts.pop("FetchRequest", 0)

            row("fetch that finds 2 records", *await broker_cost(pid, fetch_records))

            async def commit() -> int:
                for n in range(repeat):
                    await reader.commit({partition: n + 1})
                return repeat

            row("offset commit", *await broker_cost(pid, commit))
        finally:
            await reader.stop()
    finally:
        await producer.stop()

    for wait_ms in (10, 50, 200):
        row(
            f"fetch that waits {wait_ms} ms, finds none",
            *await waiting_fetches(pid, bootstrap, wait_ms, seconds),
        )
    return rows


async def waiting_fetches(
    pid: int, bootstrap: str, wait_ms: int, seconds: float
) -> tuple[int, float]:
    """An idle consumer of a topic never written, for ``seconds``: (its fetches, broker
    CPU us per fetch)."""
    counts: Counter[str] = Counter()
    idle = AIOKafkaConsumer(
        EMPTY.name, bootstrap_servers=bootstrap, group_id=f"bench-idle-{wait_ms}",
        auto_offset_reset="earliest", enable_auto_commit=False,
        **{**CLIENT, "fetch_max_wait_ms": wait_ms},
    )  # fmt: skip
    await idle.start()
    try:
        await idle.getmany(timeout_ms=1000)  # joined and fetching
        counting(idle, counts)

        async def wait_out() -> int:
            ends = time.perf_counter() + seconds
            while time.perf_counter() < ends:
                await idle.getmany(timeout_ms=100)
            return counts.pop("FetchRequest", 0)

        return await broker_cost(pid, wait_out)
    finally:
        await idle.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3000, help="produces, commits, records")
    parser.add_argument("--seconds", type=float, default=5.0, help="of each idle consumer")
    args = parser.parse_args()
    async with own_broker() as (bootstrap, broker_pid):
        await ensure_topics(bootstrap, [TOPIC, EMPTY])
        rows = await measure(broker_pid, bootstrap, args.repeat, args.seconds)
    print()
    header = ["request", "requests", "broker CPU us per request"]
    print(table("Tansu in-memory: the broker's CPU per request (/proc, 10 ms ticks)", header, rows))


if __name__ == "__main__":
    asyncio.run(main())
