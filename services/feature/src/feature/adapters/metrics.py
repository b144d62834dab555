"""The feature service's Prometheus metrics (in the runtime's registry, on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class FeatureMetrics:
    """Records admitted per outcome, rows written, and store write latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "feature_activity_records",
            "Activity records by outcome (accepted, duplicate, too_late).",
            ["outcome"],
            registry=registry,
        )
        self.rows_written = Counter(
            "feature_rows_written", "Feature rows written to the stores.", registry=registry
        )
        self.write_seconds = Histogram(
            "feature_store_write_seconds",
            "Duration of one micro-batch write to the offline and online stores.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
