"""How the embedded broker (Tansu, in-memory storage) slows as a partition fills: one
partition, one consumer at its end polling with the mesh's request-path fetch wait, and the
broker's CPU while nothing is sent and a produce -> consume round trip, after every few
thousand stored records. Once with one record per batch (what a request path writes: a
gateway's request, a predictor's answer), once with 1,000 records per batch.

    .venv/bin/python integration/benchmarks/bench_broker_batches.py

Run it on an otherwise idle machine; it starts and stops its own broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import subprocess
import time
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from bench_serving import CLIENT, ECHO_REQUESTS, percentile, table
from process_cpu import cpu_seconds

from mesh.mlflow_server import free_port_block
from mesh.plan import broker_command
from service_kit import ensure_topics

TOPIC = dataclasses.replace(
    ECHO_REQUESTS, name="bench.batches", partitions=1, description="one partition that fills"
)
RECORD = b"x" * 1000
ROUND_TRIPS = 50


async def fill(producer: AIOKafkaProducer, count: int, per_batch: int) -> None:
    """``count`` records in batches of ``per_batch`` (each batch awaited before the next)."""
    for _ in range(count // per_batch):
        sends = [await producer.send(TOPIC.name, RECORD) for _ in range(per_batch)]
        await asyncio.gather(*sends)


async def measure(
    broker_pid: int, producer: AIOKafkaProducer, consumer: AIOKafkaConsumer
) -> tuple[float, float, float]:
    """Broker CPU share while idle (3 s), and the p50 / p90 produce -> consume ms (of
    ROUND_TRIPS records, each its own batch)."""
    while await consumer.getmany(timeout_ms=300, max_records=100_000):
        pass  # read up to the end
    before, started = cpu_seconds(broker_pid), time.perf_counter()
    await asyncio.sleep(3.0)
    idle = (cpu_seconds(broker_pid) - before) / (time.perf_counter() - started)
    round_trips = []
    for _ in range(ROUND_TRIPS):
        sent = time.perf_counter()
        await producer.send_and_wait(TOPIC.name, RECORD)
        while not await consumer.getmany(timeout_ms=5000):
            pass
        round_trips.append((time.perf_counter() - sent) * 1000)
    round_trips.sort()
    return idle, percentile(round_trips, 0.5), percentile(round_trips, 0.9)


@contextlib.asynccontextmanager
async def own_broker() -> AsyncIterator[tuple[str, int]]:
    """A broker of its own on a free port, as the mesh runs it: (bootstrap, its pid)."""
    port = free_port_block(1)
    broker = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
        broker_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await asyncio.sleep(1.0)
        yield f"127.0.0.1:{port}", broker.pid
    finally:
        broker.terminate()
        broker.wait()


async def one_run(per_batch: int, steps: list[int]) -> list[list[str]]:
    rows = []
    async with own_broker() as (bootstrap, broker_pid):
        await ensure_topics(bootstrap, [TOPIC])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
        consumer = AIOKafkaConsumer(
            TOPIC.name,
            bootstrap_servers=bootstrap,
            group_id="bench-batches",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **CLIENT,
        )
        await producer.start()
        await consumer.start()
        try:
            filled = probes = 0
            for target in steps:
                batches = (target - filled) // per_batch
                await fill(producer, batches * per_batch, per_batch)
                filled += batches * per_batch
                idle, p50, p90 = await measure(broker_pid, producer, consumer)
                probes += ROUND_TRIPS  # one record per batch each
                rows.append(
                    [
                        f"{per_batch:,}",
                        f"{filled + probes:,}",
                        f"{filled // per_batch + probes:,}",
                        f"{idle * 100:.0f}%",
                        f"{p50:.1f}",
                        f"{p90:.1f}",
                    ]
                )
                print("  " + " | ".join(rows[-1]), flush=True)
        finally:
            await consumer.stop()
            await producer.stop()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="0,4000,8000,12000", help="stored, cumulative")
    args = parser.parse_args()
    steps = [int(n) for n in args.records.split(",")]
    rows = []
    for per_batch in (1, 1000):
        rows += await one_run(per_batch, steps)
    print()
    header = ["records/batch", "records stored", "batches stored", "broker CPU idle",
              "round trip p50 ms", "p90 ms"]  # fmt: skip
    fetch_wait = CLIENT["fetch_max_wait_ms"]
    print(table(f"Tansu in-memory, one partition, consumer at its end polling every "
                f"{fetch_wait} ms", header, rows))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
