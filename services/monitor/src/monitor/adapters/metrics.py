"""The monitor's Prometheus metrics (in the runtime's registry, on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class MonitorMetrics:
    """Traffic, drift, live performance and how far behind the monitor runs."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.predictions = Counter(
            "monitor_predictions",
            "PredictionMade events consumed, by status (rate() gives predictions/s).",
            ["status"],
            registry=registry,
        )
        self.prediction_latency = Histogram(
            "monitor_prediction_latency_ms",
            "Predictor latency reported in PredictionMade (ok and error), milliseconds.",
            buckets=(1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=registry,
        )
        self.late_predictions = Counter(
            "monitor_late_predictions",
            "Predictions that arrived after their window was closed (not in any window).",
            registry=registry,
        )
        self.feature_drift = Gauge(
            "monitor_feature_drift_score",
            "Drift score of a feature in the newest checked window (see method/threshold).",
            ["model_name", "feature", "method"],
            registry=registry,
        )
        self.feature_drift_threshold = Gauge(
            "monitor_feature_drift_threshold",
            "Threshold the feature's drift score is compared against.",
            ["model_name", "feature", "method"],
            registry=registry,
        )
        self.drift_share = Gauge(
            "monitor_drift_share",
            "Share of drifted features in the newest checked window.",
            ["model_name"],
            registry=registry,
        )
        self.dataset_drift = Gauge(
            "monitor_dataset_drift",
            "1 when the newest checked window counts as drifted, else 0.",
            ["model_name"],
            registry=registry,
        )
        self.live_metric = Gauge(
            "monitor_live_performance",
            "Live accuracy / ROC AUC of the newest judged window (delayed labels).",
            ["model_name", "metric"],
            registry=registry,
        )
        self.window_lag = Gauge(
            "monitor_window_lag_seconds",
            "Now minus the newest prediction time consumed (how far behind the stream).",
            registry=registry,
        )
        self.window_close_lag = Gauge(
            "monitor_window_close_lag_seconds",
            "Now minus the end of the newest window when its check finished.",
            registry=registry,
        )
        self.drift_check_seconds = Histogram(
            "monitor_drift_check_seconds",
            "Duration of one window's Evidently drift check (report rendering included).",
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
            registry=registry,
        )
        self.windows = Counter(
            "monitor_windows",
            "Windows by kind (drift, performance) and outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.labels = Counter(
            "monitor_labels",
            "LabelObserved events by join outcome (joined, unmatched, duplicate).",
            ["outcome"],
            registry=registry,
        )
