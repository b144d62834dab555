"""Settings fields of the drift dashboard (a mixin of ``MonitorSettings``)."""

from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator


class DashboardSettings(BaseModel):
    """Fields of the dashboard, read with the monitor's ``MONITOR_`` prefix."""

    dashboard_history: int = Field(
        default=500,
        ge=10,
        le=100_000,
        description="Points kept per time series and events kept on the loop's timeline.",
    )
    dashboard_mlflow_url: str = Field(
        default="http://127.0.0.1:8720",
        description="Base URL of the MLflow UI the page links runs and model versions to "
        "(http or https, no credentials: the page shows it to every visitor).",
    )
    dashboard_traffic_bucket_s: float = Field(
        default=2.0,
        ge=0.5,
        le=300,
        description="Width of one point of the traffic series (predictions/s, latency), in s.",
    )
    dashboard_heartbeat_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Seconds between heartbeat comments on an idle live stream, so proxies "
        "keep it open and a vanished client is noticed.",
    )
    dashboard_max_clients: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="Live streams served at once; more get 503 (each holds a little memory).",
    )

    @field_validator("dashboard_mlflow_url")
    @classmethod
    def _public_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL with a host, not {value!r}")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials: the page shows it to every visitor")
        return value.rstrip("/")
