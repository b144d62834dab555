"""Does the monitor keep up with the stream? Times one window's Evidently drift check
(report rendering included) against the time the window takes to fill at the predictor's
measured maximum rate, and the per-prediction windowing cost.

    .venv/bin/python services/monitor/benchmarks/bench_drift.py [--repeats 5]

Data: the churn model's shape (9 numeric and 2 categorical features), synthetic, with a
mild shift so some features drift. Prints two tables (markdown).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from monitor.adapters.evidently_drift import EvidentlyDriftCheck
from monitor.domain.drift import DriftPolicy
from monitor.domain.label_join import PredictionLog, RememberedPrediction
from monitor.domain.reference import ReferenceSample
from monitor.domain.windows import WindowBook

PREDICTOR_MAX_RATE = 3300.0
"""Predictions/s measured with 2 predictor replicas (services/predictor README)."""

NUMERIC = (
    "tenure_months",
    "monthly_charges",
    "support_tickets_7d",
    "support_tickets_30d",
    "usage_minutes_7d",
    "usage_minutes_30d",
    "sessions_30d",
    "failed_payments_90d",
    "records_30d",
)
CATEGORICAL = {
    "plan": ("basic", "standard", "premium"),
    "contract_type": ("month_to_month", "one_year", "two_year"),
}
POLICY = DriftPolicy("wasserstein", 0.1, "jensenshannon", 0.1, drift_share=0.15, min_rows=50)


def columns(rows: int, seed: int, shift: float) -> dict[str, list[float] | list[str]]:
    rng = np.random.default_rng(seed)
    data: dict[str, list[float] | list[str]] = {}
    for index, name in enumerate(NUMERIC):
        scale = 10.0 * (index + 1)
        data[name] = rng.gamma(2.0, scale * (1 + shift * (index % 3 == 0)), rows).tolist()
    for name, values in CATEGORICAL.items():
        data[name] = rng.choice(values, rows).tolist()
    return data


def reference(rows: int) -> ReferenceSample:
    return ReferenceSample(
        model_name="churn",
        model_version=1,
        numeric_features=NUMERIC,
        categorical_features=tuple(CATEGORICAL),
        columns=columns(rows, seed=1, shift=0.0),
        rows=rows,
    )


def window_rows(rows: int, seed: int) -> list[dict[str, float | str]]:
    data = columns(rows, seed=seed, shift=0.15)
    names = list(data)
    return [{name: data[name][i] for name in names} for i in range(rows)]


def drift_table(repeats: int) -> None:
    check = EvidentlyDriftCheck(POLICY)
    started = time.perf_counter()
    EvidentlyDriftCheck.warm_up()
    print(f"Evidently import: {time.perf_counter() - started:.1f} s (once, in the background)\n")
    print(
        "| window rows checked | reference rows | check p50 (s) | check max (s) "
        f"| fill at {PREDICTOR_MAX_RATE:,.0f}/s (s) | p50 / fill | p50 / 60 s window |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for reference_rows in (1000, 5000):
        sample = reference(reference_rows)
        check.check(sample, window_rows(500, seed=99), title="warm-up")  # caches the reference
        for size in (1000, 2000, 5000, 10000):
            rows = window_rows(size, seed=size)
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                check.check(sample, rows, title="bench")
                times.append(time.perf_counter() - began)
            p50 = statistics.median(times)
            fill = size / PREDICTOR_MAX_RATE
            print(
                f"| {size:,} | {reference_rows:,} | {p50:.2f} | {max(times):.2f} "
                f"| {fill:.2f} | {p50 / fill:.2f} | {p50 / 60:.3f} |"
            )


def windowing_table() -> None:
    count = 200_000
    t0 = datetime(2026, 11, 21, tzinfo=UTC)
    features = window_rows(1000, seed=5)
    book = WindowBook(seconds=60, max_rows=5000, lateness=timedelta(seconds=30))
    log = PredictionLog(max_customers=200_000, per_customer=4, max_delay=timedelta(days=7))
    began = time.perf_counter()
    for i in range(count):
        at = t0 + timedelta(seconds=i / PREDICTOR_MAX_RATE)
        book.add(
            model_name="churn",
            model_version=1,
            request_id=f"r-{i}",
            at=at,
            features=features[i % 1000],
        )
        log.remember(
            RememberedPrediction(
                f"r-{i}", f"C-{i % 50_000}", at, 0.5, False, book.key_of("churn", 1, at)
            )
        )
        if i % 1000 == 0:
            book.close_due()
    seconds = time.perf_counter() - began
    print("\n| predictions | windowing + join store (s) | predictions/s |")
    print("|---:|---:|---:|")
    print(f"| {count:,} | {seconds:.2f} | {count / seconds:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="checks per cell")
    arguments = parser.parse_args()
    print(f"CPU cores: {os.cpu_count()}; load average: {os.getloadavg()}\n")
    drift_table(arguments.repeats)
    windowing_table()
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
