"""Benchmark of the feature service's consuming path: CustomerActivityRecorded events ->
admission (SQL) -> micro-batched store writes -> online store. Prints a table; not a test.

    .venv/bin/python services/feature/benchmarks/bench_feature_service.py \
        [--records 20000] [--customers 2000] [--flush-interval 0.2] \
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

Runs the real app (dev profile: SQLite state, SQLite online store, parquet offline store,
in a temporary folder) on the in-memory Kafka, so what is measured is the service's own
cost per record (decode, admission in batches, materialization), not the broker's.
"admitted" counts from the first publish until every record is admitted; "through to the
online store" until the last customer's online row reflects its last record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("FEAST_USAGE", "False")

from feature.main import create_app
from feature.service import FeatureService
from feature.settings import FeatureSettings

from mlops_contracts import CustomerActivityRecorded
from service_kit.in_memory import InMemoryKafka

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(run: str, index: int, customers: int) -> CustomerActivityRecorded:
    customer = index % customers
    return CustomerActivityRecorded(
        record_id=f"r-{run}-{index}",
        customer_id=f"C-{run}-{customer:06d}",
        observed_at=T0 + timedelta(hours=index // customers, minutes=customer % 60),
        tenure_months=12,
        plan="standard",
        contract_type="one_year",
        monthly_charges=42.0,
        support_tickets=index % 3,
        usage_minutes=float(index % 500),
        sessions=index % 7,
        failed_payments=0,
    )


async def measure(args: argparse.Namespace, folder: Path) -> list[str]:
    settings = FeatureSettings(
        data_dir=folder,
        instance_id="bench",
        kafka_bootstrap_servers="127.0.0.1:1",
        flush_interval_s=args.flush_interval,
        database_url=args.database_url,
    )
    memory = InMemoryKafka()
    app = create_app(settings, memory)
    runtime = app.state.runtime
    run = uuid.uuid4().hex[:8]  # a shared database may hold earlier runs
    events = [event(run, index, args.customers) for index in range(args.records)]
    last = events[-1]
    async with app.router.lifespan_context(app):
        features: FeatureService = app.state.components
        started = time.perf_counter()
        for item in events:
            await runtime.publisher.publish(item)
        await memory.settled(timeout_s=600)
        admitted_s = time.perf_counter() - started
        while True:
            found = await features.store.online([last.customer_id])
            current = found.as_of.get(last.customer_id) == last.observed_at
            if current and await features.log.pending_count() == 0:
                break
            await asyncio.sleep(0.01)
        total_s = time.perf_counter() - started
        metrics = features.metrics
        writes = metrics.write_seconds.collect()[0]
        count = next(s.value for s in writes.samples if s.name.endswith("_count"))
        seconds = next(s.value for s in writes.samples if s.name.endswith("_sum"))
        rows = metrics.rows_written._value.get()
    mean_write_ms = 1000 * seconds / max(count, 1)
    return [
        "| measure | result |",
        "|---|---|",
        f"| records (in-memory Kafka), customers | {args.records:,}, {args.customers:,} |",
        f"| admitted (decode, dedup, SQL admission) | {args.records / admitted_s:,.0f} records/s |",
        f"| through to the online store | {args.records / total_s:,.0f} records/s "
        f"({total_s:.1f} s) |",
        f"| store writes (micro-batches), rows written | {count:.0f}, {rows:,.0f} |",
        f"| mean store write (offline + online + summary) | {mean_write_ms:.1f} ms |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--flush-interval", type=float, default=0.2)
    parser.add_argument(
        "--database-url", help="state database (default: SQLite in the temporary folder)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print("\n".join(asyncio.run(measure(args, Path(folder)))))


if __name__ == "__main__":
    main()
