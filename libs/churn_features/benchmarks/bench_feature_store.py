"""Benchmark of the churn feature store adapter: writes, online lookup latency for 1 and
256 customers, point-in-time historical retrieval. Prints a table; not a test.

    .venv/bin/python libs/churn_features/benchmarks/bench_feature_store.py \
        [--customers 10000] [--rows-per-customer 10] [--labels 100000] \
        [--redis redis://127.0.0.1:6379/0 --postgres postgresql://postgres@127.0.0.1:5432/test]

dev (SQLite + parquet) always runs, in a temporary folder; production (Redis + PostgreSQL)
runs when both URLs are given, in a project and table of its own, removed afterwards.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("FEAST_USAGE", "False")

import pandas as pd

from churn_features.domain import FeatureRow
from churn_features.settings import FeatureStoreSettings
from churn_features.store import CustomerFeatureStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rows_of(customer: int, count: int, rng: random.Random) -> list[FeatureRow]:
    rows = []
    for index in range(count):
        rows.append(
            FeatureRow(
                f"C-{customer:06d}",
                T0 + timedelta(days=3 * index, hours=customer % 24),
                {
                    "tenure_months": index,
                    "plan": rng.choice(["basic", "standard", "premium"]),
                    "contract_type": rng.choice(["month_to_month", "one_year", "two_year"]),
                    "monthly_charges": rng.uniform(10, 120),
                    "support_tickets_7d": rng.randint(0, 3),
                    "support_tickets_30d": rng.randint(0, 9),
                    "usage_minutes_7d": rng.uniform(0, 900),
                    "usage_minutes_30d": rng.uniform(0, 3600),
                    "sessions_30d": rng.randint(0, 90),
                    "failed_payments_90d": rng.randint(0, 2),
                    "records_30d": rng.randint(1, 10),
                },
            )
        )
    return rows


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def run(name: str, store: CustomerFeatureStore, args: argparse.Namespace) -> list[str]:
    rng = random.Random(7)
    store.apply()
    ids = [f"C-{customer:06d}" for customer in range(args.customers)]
    batch: list[FeatureRow] = []
    started = time.perf_counter()
    written = 0
    for customer in range(args.customers):
        batch.extend(rows_of(customer, args.rows_per_customer, rng))
        if len(batch) >= 5000:
            store.write(batch)
            written += len(batch)
            batch = []
    store.write(batch)
    written += len(batch)
    write_s = time.perf_counter() - started

    store.online(ids[:1])  # warm the registry cache and connections
    # As a long-running service does after loading Feast: without it, a full collection
    # scanning Feast's and pandas' objects adds ~200 ms to one lookup in a few dozen.
    gc.freeze()
    one = timed(lambda: store.online([rng.choice(ids)]), 300)
    many = timed(lambda: store.online([*rng.sample(ids, 250), *(f"X-{i}" for i in range(6))]), 50)

    span = 3 * args.rows_per_customer
    labels = pd.DataFrame(
        {
            "customer_id": [rng.choice(ids) for _ in range(args.labels)],
            "event_timestamp": [
                T0 + timedelta(days=rng.uniform(-5, span + 5)) for _ in range(args.labels)
            ],
            "churned": [rng.random() < 0.2 for _ in range(args.labels)],
        }
    )
    started = time.perf_counter()
    training = store.historical(labels)
    historical_s = time.perf_counter() - started
    assert len(training) == args.labels

    p50_1, p99_1 = percentiles(one)
    p50_256, p99_256 = percentiles(many)
    return [
        f"| {name} | write {written:,} rows | {written / write_s:,.0f} rows/s "
        f"({write_s:.1f} s, batches of 5,000) |",
        f"| {name} | online lookup, 1 id | p50 {p50_1:.2f} ms, p99 {p99_1:.2f} ms |",
        f"| {name} | online lookup, 256 ids (6 unknown) | "
        f"p50 {p50_256:.1f} ms, p99 {p99_256:.1f} ms |",
        f"| {name} | historical, {args.labels:,} label rows over {written:,} feature rows | "
        f"{historical_s:.1f} s |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rows-per-customer", type=int, default=10)
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--redis")
    parser.add_argument("--postgres")
    args = parser.parse_args()

    lines = ["| store | measure | result |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as folder:
        dev = CustomerFeatureStore(FeatureStoreSettings(data_dir=Path(folder)))
        lines += run("dev: SQLite + parquet", dev, args)
    if args.redis and args.postgres:
        tag = uuid.uuid4().hex[:10]
        production = CustomerFeatureStore(
            FeatureStoreSettings(
                profile="production",
                project=f"bench_{tag}",
                redis_url=args.redis,
                postgres_url=args.postgres,
                offline_table=f"bench_features_{tag}",
            )
        )
        try:
            lines += run("production: Redis + PostgreSQL", production, args)
        finally:
            production.teardown()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
