"""Settings of the monitor service; every field is read from ``MONITOR_<FIELD>``."""

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from model_store.access import ModelStoreAccess
from monitor.dashboard.settings import DashboardSettings
from monitor.domain.drift import DriftPolicy
from monitor.domain.performance import PerformancePolicy
from service_kit import ServiceSettings


class MonitorSettings(ServiceSettings, DashboardSettings, ModelStoreAccess):
    """Monitor: drift and performance windows, Prometheus metrics, the drift dashboard."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="forbid", frozen=True)

    service_name: str = "monitor"
    http_port: int = 8705
    model_name: str = Field(
        default="churn",
        min_length=1,
        description="Registered model whose champion reference is loaded at start.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL under which clients reach this service (report_uri of the "
        "events); empty: http://<http_host>:<http_port>.",
    )

    # ---------------------------------------------------------------- windows
    window_seconds: int = Field(
        default=60,
        ge=5,
        le=86_400,
        description="Length of a monitoring window in prediction time (epoch-aligned buckets).",
    )
    window_size: int = Field(
        default=5000,
        ge=50,
        le=200_000,
        description="Most predictions of a window the drift check reads (a deterministic "
        "hash sample of the window when it holds more).",
    )
    window_min_size: int = Field(
        default=200,
        ge=10,
        description="Windows with fewer ok predictions (with complete features) are counted "
        "but not checked.",
    )
    window_lateness_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long after its end (in prediction time) a window waits for "
        "stragglers: the skew between the 12 partitions' consumption, which grows while "
        "the monitor catches up on a backlog.",
    )
    window_idle_close_seconds: float = Field(
        default=30.0,
        gt=0,
        description="When no prediction arrived for this long, windows whose end (plus the "
        "lateness) the wall clock has passed are closed.",
    )
    consume_max_batch: int = Field(
        default=1000, ge=1, le=10_000, description="PredictionMade events handled at once."
    )
    consume_linger_ms: int = Field(
        default=200,
        ge=0,
        le=5000,
        description="After a batch of PredictionMade events, the next poll waits until this "
        "long after it: a steady stream comes in fewer, larger batches (less CPU per "
        "prediction), each at most this much later. 0: poll again at once.",
    )

    # ---------------------------------------------------------------- drift
    reference_max_rows: int = Field(
        default=5000,
        ge=100,
        le=100_000,
        description="Reference rows the drift check compares against (seeded subsample of "
        "the version's reference_sample.json).",
    )
    drift_numeric_method: str = Field(
        default="wasserstein",
        pattern=r"^[a-z_]+$",
        description="Evidently stat test for numeric features (wasserstein, ks, psi, ...).",
    )
    drift_numeric_threshold: float = Field(
        default=0.1, gt=0, description="Threshold of the numeric method."
    )
    drift_categorical_method: str = Field(
        default="jensenshannon",
        pattern=r"^[a-z_]+$",
        description="Evidently stat test for categorical features (jensenshannon, "
        "chisquare, psi, ...).",
    )
    drift_categorical_threshold: float = Field(
        default=0.1, gt=0, description="Threshold of the categorical method."
    )
    drift_share: float = Field(
        default=0.15,
        gt=0,
        le=1,
        description="Share of drifted features at or above which a window counts as drifted "
        "(0.15: two of the churn model's eleven features).",
    )
    report_retention: int = Field(
        default=50, ge=1, le=10_000, description="Evidently reports kept (newest windows)."
    )

    # ---------------------------------------------------------------- performance
    performance_metric: Literal["roc_auc", "accuracy"] = Field(
        default="roc_auc", description="Live metric judged per window."
    )
    performance_min_labels: int = Field(
        default=100,
        ge=10,
        description="Labelled predictions a window needs before it is judged (once).",
    )
    performance_min_value: float = Field(
        default=0.65,
        ge=0,
        le=1,
        description="The metric below this: the window's performance counts as degraded.",
    )
    performance_max_drop: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="When set and the model's training value is known, the threshold rises "
        "to training value minus this.",
    )
    label_max_delay_s: float = Field(
        default=7 * 86_400,
        gt=0,
        description="A label joins only a prediction made at most this long before its "
        "prediction point.",
    )
    join_max_customers: int = Field(
        default=200_000, ge=1, description="Customers whose recent predictions are kept."
    )
    join_per_customer: int = Field(
        default=4, ge=1, le=100, description="Newest ok predictions kept per customer."
    )

    @model_validator(mode="after")
    def _sizes_consistent(self) -> "MonitorSettings":
        if self.window_min_size > self.window_size:
            raise ValueError("window_min_size must not exceed window_size")
        return self

    @property
    def report_base_url(self) -> str:
        """Base URL of the report links."""
        return self.public_url or f"http://{self.http_host}:{self.http_port}"

    def drift_policy(self) -> DriftPolicy:
        """The drift rule from these settings."""
        return DriftPolicy(
            numeric_method=self.drift_numeric_method,
            numeric_threshold=self.drift_numeric_threshold,
            categorical_method=self.drift_categorical_method,
            categorical_threshold=self.drift_categorical_threshold,
            drift_share=self.drift_share,
            min_rows=self.window_min_size,
        )

    def performance_policy(self) -> PerformancePolicy:
        """The performance rule from these settings."""
        return PerformancePolicy(
            metric=self.performance_metric,
            min_labels=self.performance_min_labels,
            min_value=self.performance_min_value,
            max_drop=self.performance_max_drop,
        )

    @property
    def label_max_delay(self) -> timedelta:
        return timedelta(seconds=self.label_max_delay_s)
