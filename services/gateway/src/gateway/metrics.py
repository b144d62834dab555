"""The gateway's Prometheus metrics (in the service's own registry, served on /metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class GatewayMetrics:
    """Requests by outcome, latency, requests in flight, late replies."""

    outcomes: Counter
    latency: Histogram
    in_flight: Gauge
    late_replies: Counter

    @classmethod
    def register(cls, registry: CollectorRegistry) -> GatewayMetrics:
        """Create the metrics in ``registry``."""
        return cls(
            outcomes=Counter(
                "gateway_predictions",
                "Predictions answered, by outcome (ok, error, timeout).",
                ["outcome"],
                registry=registry,
            ),
            latency=Histogram(
                "gateway_request_seconds",
                "Time of POST /v1/predict from body read to answer.",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                registry=registry,
            ),
            in_flight=Gauge(
                "gateway_in_flight", "Predictions waiting for their reply.", registry=registry
            ),
            late_replies=Counter(
                "gateway_late_replies",
                "Replies that arrived after their request gave up (dropped).",
                registry=registry,
            ),
        )
